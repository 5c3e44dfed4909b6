"""``reclass config``: where the configuration file is, and what is in effect."""

from __future__ import annotations

import os

import typer

from music_reclass.cli.app import app
from music_reclass.cli.common import config, echo
from music_reclass.cli.output import write_json_line
from music_reclass.config import KEYS
from music_reclass.paths import default_db_path


@app.command("config")
def config_command(
    json_output: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Show the configuration file's path and the settings in effect (secrets hidden).

    Every key is optional; command-line flags override the file, and RECLASS_DB,
    RECLASS_PLEX_URL, RECLASS_PLEX_TOKEN and RECLASS_TOKEN override it too.
    """
    current = config()
    env_db = os.environ.get("RECLASS_DB")
    db = env_db or current.get("library", "db") or str(default_db_path())
    source = "RECLASS_DB" if env_db else ("config file" if current.get("library", "db")
                                          else "default")
    if json_output:
        write_json_line({"path": str(current.path), "exists": current.exists,
                         "database": db, "database_from": source, "settings": current.shown()})
        return
    echo(f"config file: {current.path}" + ("" if current.exists else " (none: all defaults)"))
    echo(f"database:    {db}  (from {source})")
    shown = current.shown()
    for section, keys in KEYS.items():
        values = shown.get(section, {})
        for key, (_kind, meaning) in keys.items():
            value = values.get(key)
            shown_value = "(not set)" if value is None else repr(value)
            echo(f"  [{section}] {key} = {shown_value}   # {meaning}")
        if section == "genre_map" and values:
            echo(f"  [genre_map] {len(values)} spelling(s)")
