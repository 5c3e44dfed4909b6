"""Tag -> genre mappings (validation, probabilities, monotonicity) and genre-name normalisation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from music_reclass.errors import ParameterError
from music_reclass.taxonomy import (
    MSD_LABELS,
    MTT_LABELS,
    VOCABULARIES,
    id3v1_genre,
    known_aliases,
    load_taxonomy,
    normalise_genre,
    parse_taxonomy,
)

DATA = Path(__file__).resolve().parents[1] / "src" / "music_reclass" / "taxonomy" / "data"
MODELS = ("MSD_musicnn", "MTT_musicnn")


def random_tags(rng: np.random.Generator, n: int | None = None) -> dict[str, np.ndarray]:
    shape = (50,) if n is None else (n, 50)
    # Beta(0.5, 3): mostly small with a few strong tags, like real tag outputs
    return {m: rng.beta(0.5, 3.0, size=shape) for m in MODELS}


def quiet_tags(level: float = 0.05) -> dict[str, np.ndarray]:
    return {m: np.full(50, level) for m in MODELS}


def minimal_document(**overrides) -> dict:
    document = {
        "format": "music_reclass.taxonomy/1",
        "name": "mini",
        "genres": {
            "rock": {"tags": {"MSD_musicnn": {"rock": 1.0}, "MTT_musicnn": {"rock": 1.0}}},
            "jazz": {"tags": {"MSD_musicnn": {"jazz": 1.0}}},
        },
    }
    document.update(overrides)
    return document


# --------------------------------------------------------------------------- built-in files


def test_vocabularies_are_the_musicnn_ones():
    assert len(MSD_LABELS) == len(set(MSD_LABELS)) == 50
    assert len(MTT_LABELS) == len(set(MTT_LABELS)) == 50
    assert MSD_LABELS[33] == "Hip-Hop" and MTT_LABELS[21] == "no vocals"


def test_default_taxonomy_covers_the_promised_genres():
    taxonomy = load_taxonomy("default")
    expected = {
        "rock", "pop", "electronic", "dance", "hip-hop", "soul/r&b", "jazz", "blues", "country",
        "folk", "metal", "punk", "classical", "ambient/new age", "funk", "indie/alternative",
    }  # fmt: skip
    assert expected <= set(taxonomy.genres)
    assert taxonomy.unrecognisable == ()
    assert set(taxonomy.models) == set(MODELS)


def test_gtzan_taxonomy_is_the_ten_gtzan_genres_and_admits_reggae_is_unrecognisable():
    taxonomy = load_taxonomy("gtzan")
    assert sorted(taxonomy.genres) == [
        "blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock",
    ]  # fmt: skip
    assert taxonomy.unrecognisable == ("reggae",)


@pytest.mark.parametrize("name", ["default", "gtzan"])
def test_builtin_file_loads_by_path_the_same_as_by_name(name):
    by_name = load_taxonomy(name)
    by_path = load_taxonomy(DATA / f"{name}.json")
    assert by_path.weights == by_name.weights and by_path.digest == by_name.digest


# --------------------------------------------------------------------------- probabilities


@pytest.mark.parametrize("name", ["default", "gtzan"])
def test_scores_are_probabilities(name):
    taxonomy = load_taxonomy(name)
    rng = np.random.default_rng(0)
    for _ in range(50):
        scores = taxonomy.score(random_tags(rng))
        assert scores.shape == (len(taxonomy.genres),)
        assert np.all(scores >= 0)
        assert scores.sum() == pytest.approx(1.0, abs=1e-12)
    extremes = [quiet_tags(0.0), quiet_tags(1.0)]
    for tags in extremes:
        assert taxonomy.score(tags).sum() == pytest.approx(1.0, abs=1e-12)


def test_batched_scores_equal_row_by_row():
    taxonomy = load_taxonomy("default")
    tags = random_tags(np.random.default_rng(1), n=7)
    batched = taxonomy.score(tags)
    assert batched.shape == (7, len(taxonomy.genres))
    for i in range(7):
        row = taxonomy.score({m: tags[m][i] for m in MODELS})
        np.testing.assert_allclose(batched[i], row, rtol=1e-12)


@pytest.mark.parametrize("name", ["default", "gtzan"])
def test_raising_a_genres_tags_raises_its_score_and_makes_it_win(name):
    taxonomy = load_taxonomy(name)
    for genre in taxonomy.genres:
        if genre in taxonomy.unrecognisable:
            continue
        j = taxonomy.genres.index(genre)
        before = taxonomy.score(quiet_tags())[j]
        tags = quiet_tags()
        for model, weights in taxonomy.weights[genre].items():
            strongest = max(weights.values())
            for tag, weight in weights.items():
                if weight == strongest:
                    tags[model][VOCABULARIES[model].index(tag)] = 0.8
        after = taxonomy.score(tags)
        assert after[j] > before, genre
        assert after.argmax() == j, f"{genre}: its own tags at 0.8 should make it win"


def test_evidence_is_monotonic_in_every_mapped_tag_and_score_in_exclusive_ones():
    taxonomy = load_taxonomy("default")
    users: dict[tuple[str, str], set[str]] = {}
    for genre, per_model in taxonomy.weights.items():
        for model, weights in per_model.items():
            for tag in weights:
                users.setdefault((model, tag), set()).add(genre)
    base = random_tags(np.random.default_rng(2))
    checked_exclusive = 0
    for (model, tag), genres in users.items():
        raised = {m: a.copy() for m, a in base.items()}
        k = VOCABULARIES[model].index(tag)
        raised[model][k] = min(1.0, raised[model][k] + 0.5)
        for genre in genres:
            j = taxonomy.genres.index(genre)
            assert taxonomy.evidence(raised)[j] >= taxonomy.evidence(base)[j], (genre, tag)
            if len(genres) == 1:  # a shared tag may raise a rival genre more
                assert taxonomy.score(raised)[j] >= taxonomy.score(base)[j] - 1e-12, (genre, tag)
                checked_exclusive += 1
    assert checked_exclusive > 20


def test_unmapped_tags_do_not_change_genres():
    taxonomy = load_taxonomy("default")
    mapped = {(m, t) for g in taxonomy.weights.values() for m, ts in g.items() for t in ts}
    unmapped = [(m, t) for m in MODELS for t in VOCABULARIES[m] if (m, t) not in mapped]
    assert ("MSD_musicnn", "00s") in unmapped and ("MTT_musicnn", "male vocal") in unmapped
    base = random_tags(np.random.default_rng(3))
    changed = {m: a.copy() for m, a in base.items()}
    for model, tag in unmapped:
        changed[model][VOCABULARIES[model].index(tag)] = 1.0
    np.testing.assert_allclose(taxonomy.score(changed), taxonomy.score(base))


def test_reggae_gets_the_smallest_share_under_gtzan():
    taxonomy = load_taxonomy("gtzan")
    scores = taxonomy.score(random_tags(np.random.default_rng(4)))
    assert scores[taxonomy.genres.index("reggae")] == pytest.approx(scores.min())


def test_temperature_keeps_the_ranking_and_lower_is_sharper():
    document = minimal_document()
    document["genres"]["pop"] = {"tags": {"MSD_musicnn": {"pop": 1.0}}}
    tags = quiet_tags()
    tags["MSD_musicnn"][MSD_LABELS.index("rock")] = 0.6
    tags["MSD_musicnn"][MSD_LABELS.index("pop")] = 0.3
    sharp = parse_taxonomy({**document, "temperature": 0.25}).score(tags)
    flat = parse_taxonomy({**document, "temperature": 2.0}).score(tags)
    assert list(np.argsort(sharp)) == list(np.argsort(flat))
    assert sharp.max() > flat.max()


def test_evidence_is_a_weighted_max_within_a_model_and_a_mean_across_models():
    taxonomy = load_taxonomy("default")
    tags = quiet_tags(0.0)
    tags["MSD_musicnn"][MSD_LABELS.index("metal")] = 0.6
    tags["MSD_musicnn"][MSD_LABELS.index("hard rock")] = 0.9  # weight 0.5 -> 0.45 < 0.6
    tags["MTT_musicnn"][MTT_LABELS.index("metal")] = 0.2
    evidence = taxonomy.evidence(tags)
    assert evidence[taxonomy.genres.index("metal")] == pytest.approx((0.6 + 0.2) / 2)


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"MSD_musicnn": np.zeros(50)}, "missing"),
        ({"MSD_musicnn": np.zeros(50), "MTT_musicnn": np.zeros(49)}, "50"),
        ({"MSD_musicnn": np.full(50, 1.5), "MTT_musicnn": np.zeros(50)}, "within"),
        ({"MSD_musicnn": np.full(50, np.nan), "MTT_musicnn": np.zeros(50)}, "finite"),
        ({"MSD_musicnn": np.zeros((2, 50)), "MTT_musicnn": np.zeros((3, 50))}, "shape"),
    ],
)
def test_bad_tag_arrays_are_rejected(tags, message):
    with pytest.raises(ParameterError, match=message):
        load_taxonomy("default").score(tags)


# --------------------------------------------------------------------------- validation


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_custom_mapping_file_is_loaded(tmp_path):
    taxonomy = load_taxonomy(write(tmp_path, minimal_document()))
    assert taxonomy.genres == ("rock", "jazz") and taxonomy.name == "mini"
    assert taxonomy.temperature == 0.5


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["genres"]["rock"]["tags"].update({"FMA_net": {"rock": 1.0}}), "MSD_musicnn"),
        (lambda d: d["genres"]["jazz"]["tags"]["MSD_musicnn"].update({"hip-hop": 1.0}), "Hip-Hop"),
        (lambda d: d["genres"]["jazz"]["tags"]["MSD_musicnn"].update({"jazz": 0.0}), r"\(0, 1\]"),
        (lambda d: d["genres"]["jazz"]["tags"]["MSD_musicnn"].update({"jazz": 1.5}), r"\(0, 1\]"),
        (lambda d: d["genres"]["jazz"]["tags"]["MSD_musicnn"].update({"jazz": "high"}), "weight"),
        (lambda d: d.update({"temperature": 0}), "temperature"),
        (lambda d: d.update({"temperature": -1}), "temperature"),
        (lambda d: d.update({"evidence_floor": 1.0}), "evidence_floor"),
        (lambda d: d.update({"format": "other/9"}), "format"),
        (lambda d: d["genres"].pop("jazz"), "at least two"),
        (lambda d: d["genres"].update({"jazz": ["jazz"]}), "'tags' object"),
        (lambda d: d["genres"].update({"jazz": {"tags": {}}, "rock": {"tags": {}}}), "no genre"),
    ],
)
def test_invalid_mapping_is_a_clear_parameter_error(tmp_path, mutate, message):
    document = minimal_document()
    mutate(document)
    with pytest.raises(ParameterError, match=message):
        load_taxonomy(write(tmp_path, document))


def test_unknown_tag_error_lists_the_valid_tags(tmp_path):
    document = minimal_document()
    document["genres"]["jazz"]["tags"]["MTT_musicnn"] = {"jazz": 1.0}
    with pytest.raises(ParameterError) as info:
        load_taxonomy(write(tmp_path, document))
    assert "'jazz'" in str(info.value) and "'harpsichord'" in str(info.value)


def test_unknown_taxonomy_name_and_bad_file(tmp_path):
    with pytest.raises(ParameterError, match="default"):
        load_taxonomy("jazzy")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ParameterError, match="cannot read"):
        load_taxonomy(broken)
    with pytest.raises(ParameterError, match="object"):
        load_taxonomy(write(tmp_path, ["rock"]))


def test_digest_follows_semantic_content_only():
    base = parse_taxonomy(minimal_document())
    reweighted = minimal_document()
    reweighted["genres"]["jazz"]["tags"]["MSD_musicnn"]["jazz"] = 0.9
    annotated = minimal_document(description="new words")
    annotated["genres"]["jazz"]["note"] = "a note"
    assert parse_taxonomy(reweighted).digest != base.digest
    assert parse_taxonomy(minimal_document(temperature=1.0)).digest != base.digest
    assert parse_taxonomy(annotated).digest == base.digest


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Hip Hop", "hip-hop"),
        ("hiphop", "hip-hop"),
        ("Hip-Hop", "hip-hop"),
        ("  HIP  hop ", "hip-hop"),
        ("Rap", "hip-hop"),
        ("Gangsta Rap", "hip-hop"),
        ("R&B", "soul/r&b"),
        ("RnB", "soul/r&b"),
        ("R 'n' B", "soul/r&b"),
        ("Rhythm and Blues", "soul/r&b"),
        ("Soul", "soul/r&b"),
        ("soul/r&b", "soul/r&b"),
        ("(17)", "rock"),
        ("17", "rock"),
        ("(17)Rock", "rock"),
        ("(9)", "metal"),
        ("(0)", "blues"),
        ("Rock & Roll", "rock"),
        ("rock'n'roll", "rock"),
        ("Heavy Metal", "metal"),
        ("Death Metal", "metal"),
        ("Progressive Death Metal", "metal"),
        ("Gypsy Jazz", "jazz"),
        ("Bebop", "jazz"),
        ("Alt. Rock", "indie/alternative"),
        ("Indie Rock", "indie/alternative"),
        ("Punk Rock", "punk"),
        ("Drum & Bass", "electronic"),
        ("Drum n Bass", "electronic"),
        ("House", "dance"),
        ("Disco", "dance"),
        ("New Age", "ambient/new age"),
        ("Chill-out", "ambient/new age"),
        ("Klassik", None),
        ("Classical", "classical"),
        ("Baroque", "classical"),
        ("Bluegrass", "country"),
        ("Celtic", "folk"),
        ("Café Électronique", None),
        ("Électronique Electronic", "electronic"),
        ("Rock; Pop", "rock"),
        ("Jazz / Blues", "jazz"),
        ("Other", None),
        ("(12)", None),
        ("80s", None),
        ("(999)", None),
        ("", None),
        ("   ", None),
    ],
)
def test_normalise_genre_default(name, expected):
    assert normalise_genre(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Hip-Hop", "hiphop"),
        ("hip hop", "hiphop"),
        ("Rap", "hiphop"),
        ("Reggae", "reggae"),
        ("(16)", "reggae"),
        ("Ska", "reggae"),
        ("Disco", "disco"),
        ("Punk", "rock"),
        ("Alternative", "rock"),
        ("Heavy Metal", "metal"),
        ("R&B", None),
        ("Electronic", None),
        ("Classical", "classical"),
        ("(2)", "country"),
    ],
)
def test_normalise_genre_gtzan(name, expected):
    assert normalise_genre(name, taxonomy="gtzan") == expected


def test_normalise_genre_rejects_bad_arguments():
    with pytest.raises(ParameterError, match="taxonomy"):
        normalise_genre("rock", taxonomy="fma")
    with pytest.raises(ParameterError, match="string"):
        normalise_genre(17)  # type: ignore[arg-type]


@pytest.mark.parametrize("taxonomy", ["default", "gtzan"])
def test_alias_tables_agree_with_the_mapping_files(taxonomy):
    genres = set(load_taxonomy(taxonomy).genres)
    canonical = set(known_aliases(taxonomy=taxonomy).values())
    assert canonical == genres
    for genre in genres:
        assert normalise_genre(genre, taxonomy=taxonomy) == genre


def test_every_alias_resolves_to_its_own_genre():
    document = json.loads((DATA / "aliases.json").read_text(encoding="utf-8"))
    for taxonomy, table in document["taxonomies"].items():
        for genre, aliases in table.items():
            for alias in aliases:
                assert normalise_genre(alias, taxonomy=taxonomy) == genre, (taxonomy, alias)
    gtzan = set(load_taxonomy("gtzan").genres)
    from_default = document["from_default"]["gtzan"]
    assert set(from_default) == set(load_taxonomy("default").genres)
    assert {v for v in from_default.values() if v is not None} <= gtzan


def test_id3v1_table_is_complete_and_every_number_normalises():
    assert (
        id3v1_genre(0) == "Blues" and id3v1_genre(17) == "Rock" and id3v1_genre(191) == "Psybient"
    )
    assert id3v1_genre(192) is None
    resolved = {n: normalise_genre(f"({n})") for n in range(192)}
    genres = set(load_taxonomy("default").genres)
    assert {g for g in resolved.values() if g is not None} <= genres
    # most of the 192 names mean one of our genres: a regression guard for the alias table
    assert sum(g is not None for g in resolved.values()) >= 130


def test_genre_names_with_control_characters_are_refused(tmp_path):
    import json

    from music_reclass.errors import ParameterError
    from music_reclass.taxonomy import load_taxonomy

    document = json.loads((DATA / "gtzan.json").read_text())
    document["genres"]["ro\x1b[31mck"] = document["genres"].pop("rock")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ParameterError, match="control characters"):
        load_taxonomy(path)
