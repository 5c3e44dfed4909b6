"""The musicnn network (Pons & Serra 2019, musicnn 0.1.0 ``build_musicnn``) in PyTorch.

Layer by layer, as ``musicnn/models.py`` builds it for MSD_musicnn and MTT_musicnn
(input: a log-mel patch of 187 frames x 96 bands)::

    input batch norm (one channel)
    front end, five branches, each conv -> ReLU -> batch norm -> max over frequency:
        timbral 7x38 and 7x67 (204 filters each), time zero-padded by 3 on both sides
        temporal 128x1, 64x1, 32x1 (51 filters each), TF 'same' padding in time
        (the extra pad of an even kernel goes at the end)
    concatenated -> 561 channels x 187 frames
    mid end: three 7-tap convolutions (64 filters, zero pad 3) -> ReLU -> batch norm,
        the 2nd and 3rd with residual connections; concat [front, c1, c2, c3] = 753
    back end: max and mean over time -> flattened *interleaved* (max_0, mean_0, max_1, ...)
        = 1506 -> batch norm -> dense 200 -> ReLU -> batch norm ("penultimate")
        -> dense 50 (logits) -> sigmoid (taggram)

Batch norms use TF's epsilon 1e-3 and run in inference mode (:class:`FrozenBatchNorm`).

Two equivalent forward paths are provided. :meth:`MusicnnNet.forward_reference` uses
plain ``conv2d`` as TF does. :meth:`MusicnnNet.forward` (the default, ~3x faster on
CPU) computes the timbral convolutions through an FFT along frequency (2.6x / 4.8x fewer
multiply-adds, all in matmuls), the temporal ones as polyphase matmuls on time windows,
and uses the fact that max-pooling commutes with ReLU and with a per-channel affine map
(the min where the batch-norm scale is negative), so only the pooled values go through
ReLU and batch norm. The two agree to ~1e-6 on the taggram (see tests).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from music_reclass.errors import ParameterError

from .frontend import N_MELS
from .spec import PATCH_FRAMES as N_FRAMES

N_TAGS = 50
BN_EPSILON = 1e-3  # TensorFlow's default
TIMBRAL_FILTERS = 204  # int(1.6 * 128)
TEMPORAL_FILTERS = 51  # int(1.6 * 32)
# musicnn's branch names: "74" is 7 frames x 0.4 of the 96 bands, "77" 7 x 0.7
TIMBRAL_WIDTHS = {"timbral_74": 38, "timbral_77": 67}  # int(0.4 * 96), int(0.7 * 96)
TEMPORAL_LENGTHS = (128, 64, 32)
MIDEND_FILTERS = 64
DENSE_UNITS = 200
FRONT_CHANNELS = 2 * TIMBRAL_FILTERS + 3 * TEMPORAL_FILTERS  # 561
POOL_CHANNELS = FRONT_CHANNELS + 3 * MIDEND_FILTERS  # 753


class FrozenBatchNorm(nn.Module):
    """Inference-only batch norm over axis 1, TF's epsilon; state = TF's four tensors."""

    def __init__(self, n_features: int, *, eps: float = BN_EPSILON) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_features))  # TF gamma
        self.bias = nn.Parameter(torch.zeros(n_features))  # TF beta
        self.register_buffer("running_mean", torch.zeros(n_features))
        self.register_buffer("running_var", torch.ones(n_features))

    def scale_shift(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``x * scale + shift``, the formula of TF's fused inference batch norm."""
        scale = self.weight * torch.rsqrt(self.running_var + self.eps)
        return scale, self.bias - self.running_mean * scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale, shift = self.scale_shift()
        shape = (-1,) + (1,) * (x.ndim - 2)
        return x * scale.view(shape) + shift.view(shape)


def _batch_norm(n_features: int) -> FrozenBatchNorm:
    return FrozenBatchNorm(n_features)


def _bn_scale_shift(bn: FrozenBatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    return bn.scale_shift()


class ConvBlock(nn.Module):
    """A convolution and the batch norm that follows it (ReLU in between)."""

    def __init__(self, conv: nn.Module, n_filters: int) -> None:
        super().__init__()
        self.conv = conv
        self.bn = _batch_norm(n_filters)


class DenseBlock(nn.Module):
    """A dense layer, optionally followed by ReLU + batch norm."""

    def __init__(self, n_in: int, n_out: int, *, with_bn: bool) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        if with_bn:
            self.bn = _batch_norm(n_out)


class MusicnnNet(nn.Module):
    """musicnn (MSD_musicnn / MTT_musicnn architecture) in inference mode.

    Input: log-mel patches ``[B, 187, 96]`` (time, mel band). Output of :meth:`forward`:
    a dict of ``taggram`` (sigmoid) and ``logits`` ``[B, 50]``, ``penultimate``
    ``[B, 200]``, ``max_pool`` and ``mean_pool`` ``[B, 753]``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.input_bn = _batch_norm(1)
        for name, width in TIMBRAL_WIDTHS.items():
            conv = nn.Conv2d(1, TIMBRAL_FILTERS, kernel_size=(7, width))
            setattr(self, name, ConvBlock(conv, TIMBRAL_FILTERS))
        for length in TEMPORAL_LENGTHS:
            conv = nn.Conv2d(1, TEMPORAL_FILTERS, kernel_size=(length, 1))
            setattr(self, f"temporal_{length}", ConvBlock(conv, TEMPORAL_FILTERS))
        self.midend_1 = ConvBlock(nn.Conv1d(FRONT_CHANNELS, MIDEND_FILTERS, 7), MIDEND_FILTERS)
        self.midend_2 = ConvBlock(nn.Conv1d(MIDEND_FILTERS, MIDEND_FILTERS, 7), MIDEND_FILTERS)
        self.midend_3 = ConvBlock(nn.Conv1d(MIDEND_FILTERS, MIDEND_FILTERS, 7), MIDEND_FILTERS)
        self.pool_bn = _batch_norm(2 * POOL_CHANNELS)
        self.dense = DenseBlock(2 * POOL_CHANNELS, DENSE_UNITS, with_bn=True)
        self.output = DenseBlock(DENSE_UNITS, N_TAGS, with_bn=False)
        self._fast: dict[str, torch.Tensor] | None = None
        self.eval()

    # ------------------------------------------------------------------ shared parts
    @property
    def timbral_blocks(self) -> list[ConvBlock]:
        return [getattr(self, name) for name in TIMBRAL_WIDTHS]

    @property
    def temporal_blocks(self) -> list[ConvBlock]:
        return [getattr(self, f"temporal_{length}") for length in TEMPORAL_LENGTHS]

    def _normalise_input(self, patches: torch.Tensor) -> torch.Tensor:
        scale, shift = _bn_scale_shift(self.input_bn)
        return patches * scale + shift

    def _midend_backend(self, front: torch.Tensor) -> dict[str, torch.Tensor]:
        """From the front-end features ``[B, 561, 187]`` to all outputs."""
        features = [front]
        previous = front
        for index, block in enumerate((self.midend_1, self.midend_2, self.midend_3)):
            scale, shift = _bn_scale_shift(block.bn)
            out = F.relu(F.conv1d(previous, block.conv.weight, block.conv.bias, padding=3))
            out = out * scale[:, None] + shift[:, None]
            if index > 0:  # residual connections on the 2nd and 3rd layers
                out = out + previous
            features.append(out)
            previous = out
        stacked = torch.cat(features, dim=1)  # [B, 753, T]
        max_pool = stacked.amax(dim=2)
        mean_pool = stacked.mean(dim=2)
        # TF concatenates [B, 753, 1] max and mean on the last axis, then flattens:
        # the dense layer sees max_0, mean_0, max_1, mean_1, ...
        flat = torch.stack([max_pool, mean_pool], dim=2).flatten(1)
        scale, shift = _bn_scale_shift(self.pool_bn)
        flat = flat * scale + shift
        dense = F.relu(self.dense.linear(flat))
        scale, shift = _bn_scale_shift(self.dense.bn)
        penultimate = dense * scale + shift
        logits = self.output.linear(penultimate)
        return {
            "taggram": torch.sigmoid(logits),
            "logits": logits,
            "penultimate": penultimate,
            "max_pool": max_pool,
            "mean_pool": mean_pool,
        }

    # ------------------------------------------------------------------ reference path
    def forward_reference(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        """Straightforward forward pass, layer for layer as in TF (slower)."""
        x = self._normalise_input(patches).unsqueeze(1)  # [B, 1, T, F]
        branches = []
        padded = F.pad(x, (0, 0, 3, 3))
        for block in self.timbral_blocks:
            branches.append(self._conv_relu_bn_maxfreq(block, padded))
        for block in self.temporal_blocks:
            length = block.conv.kernel_size[0]
            same = F.pad(x, (0, 0, (length - 1) // 2, length // 2))
            branches.append(self._conv_relu_bn_maxfreq(block, same))
        return self._midend_backend(torch.cat(branches, dim=1))

    @staticmethod
    def _conv_relu_bn_maxfreq(block: ConvBlock, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(F.conv2d(x, block.conv.weight, block.conv.bias))  # [B, C, T, F']
        scale, shift = _bn_scale_shift(block.bn)
        out = out * scale[:, None, None] + shift[:, None, None]
        return out.amax(dim=3)

    # ------------------------------------------------------------------ fast path
    def forward(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        """Forward pass on ``[B, 187, 96]`` patches (FFT front end, see module doc)."""
        if patches.ndim != 3 or patches.shape[1:] != (N_FRAMES, N_MELS):
            raise ParameterError(
                f"expected patches [B, {N_FRAMES}, {N_MELS}], got {tuple(patches.shape)}"
            )
        x = self._normalise_input(patches)
        fast = self._fast_weights()
        front = torch.cat([self._timbral_fft(x, fast), self._temporal(x, fast)], dim=1)
        return self._midend_backend(front)

    def _fast_weights(self) -> dict[str, torch.Tensor]:
        """Transformed filters, computed once (drop the cache if weights change)."""
        if self._fast is None:
            with torch.no_grad():
                self._fast = _prepare_fast_weights(self)
        return self._fast

    def load_state_dict(self, *args, **kwargs):  # the fast filters derive from the weights
        self._fast = None
        return super().load_state_dict(*args, **kwargs)

    def _apply(self, fn, *args, **kwargs):  # device/dtype moves invalidate the cache
        self._fast = None
        return super()._apply(fn, *args, **kwargs)

    @staticmethod
    def _timbral_fft(x: torch.Tensor, fast: dict[str, torch.Tensor]) -> torch.Tensor:
        """Both timbral branches: FFT along frequency, 7 taps direct along time.

        Per frequency bin the 7 time taps are a small real matmul on ``[re, im]``
        (:func:`_prepare_fast_weights`); the inverse real DFT, restricted to the valid
        outputs, is one more matmul. Rows (patch, frame) go a chunk at a time through
        preallocated buffers so the intermediate spectra stay cache-sized.
        """
        n_rows = x.shape[0] * N_FRAMES
        spectrum = torch.view_as_real(torch.fft.rfft(F.pad(x, (0, 0, 3, 3)), dim=2))
        # [B, 193, 49, 2] -> [49, 2, B, 193] -> 7-tap windows -> [49, B*187, (re|im) x 7]
        spectrum = spectrum.permute(2, 3, 0, 1).contiguous()
        taps = spectrum.unfold(3, 7, 1).permute(0, 2, 3, 1, 4).reshape(N_BINS, n_rows, 14)
        chunk = min(TIMBRAL_CHUNK_ROWS, n_rows)
        bins_buffer = x.new_empty(2 * N_BINS * chunk * TIMBRAL_FILTERS)
        responses_buffer = x.new_empty(N_MELS * chunk * TIMBRAL_FILTERS)
        front = x.new_empty(n_rows, 2 * TIMBRAL_FILTERS)
        for index, name in enumerate(TIMBRAL_WIDTHS):
            kernel_re, kernel_im = fast[f"{name}.kernel_re"], fast[f"{name}.kernel_im"]
            inverse = fast[f"{name}.inverse_dft"]  # [n_valid, 2*49]
            columns = slice(index * TIMBRAL_FILTERS, (index + 1) * TIMBRAL_FILTERS)
            for start in range(0, n_rows, chunk):
                rows = taps[:, start : start + chunk]
                n_chunk = rows.shape[1]
                bins = bins_buffer[: 2 * N_BINS * n_chunk * TIMBRAL_FILTERS]
                bins = bins.view(2, N_BINS, n_chunk, TIMBRAL_FILTERS)
                torch.bmm(rows, kernel_re, out=bins[0])
                torch.bmm(rows, kernel_im, out=bins[1])
                responses = responses_buffer[: inverse.shape[0] * n_chunk * TIMBRAL_FILTERS]
                responses = responses.view(inverse.shape[0], n_chunk * TIMBRAL_FILTERS)
                torch.mm(inverse, bins.view(2 * N_BINS, -1), out=responses)
                responses = responses.view(-1, n_chunk, TIMBRAL_FILTERS)
                front[start : start + n_chunk, columns] = _pool_relu_bn(
                    responses, fast, name, dim=0
                )
        return front.view(x.shape[0], N_FRAMES, -1).transpose(1, 2)

    @staticmethod
    def _temporal(x: torch.Tensor, fast: dict[str, torch.Tensor]) -> torch.Tensor:
        """The three temporal branches: TF 'same' convolutions along time as matmuls.

        Polyphase form (:func:`_polyphase_filters`): time is cut into blocks of
        ``TEMPORAL_PHASES`` frames, so a k-tap filter becomes a ceil((k+P-1)/P)-block
        filter over P input phases producing P output phases. The window matrix is P
        times smaller than the plain k-sample one and the matmul is wide (51*P
        columns) instead of 51: ~2x faster for the same multiply-adds, one patch at a
        time to stay in cache.
        """
        phases = TEMPORAL_PHASES
        n_blocks = -(-N_FRAMES // phases)
        columns = x.transpose(1, 2)  # [B, 96, 187]
        pooled = []
        for length in TEMPORAL_LENGTHS:
            name = f"temporal_{length}"
            weight = fast[f"{name}.polyphase"]  # [P * n_taps, 51 * P]
            n_taps = weight.shape[0] // phases
            total = (n_blocks + n_taps - 1) * phases
            before = (length - 1) // 2  # TF 'same': the odd extra pad goes at the end
            padded = F.pad(columns, (before, total - N_FRAMES - before))
            outputs = []
            for patch in padded:
                blocks = patch.reshape(N_MELS, total // phases, phases)
                windows = blocks.unfold(1, n_taps, 1).reshape(N_MELS * n_blocks, phases * n_taps)
                responses = (windows @ weight).view(N_MELS, n_blocks, TEMPORAL_FILTERS, phases)
                # [96, blocks, 51, P]: pool over the mel bands, then frame = block * P + phase
                best = responses.amax(dim=0).permute(1, 0, 2).reshape(TEMPORAL_FILTERS, -1)
                outputs.append(best[:, :N_FRAMES])
            stacked = torch.stack(outputs)  # [B, 51, 187] max over bands of sign * z
            pooled.append(
                _pool_relu_bn(stacked.unsqueeze(-1), fast, name, dim=-1, channel_shape=(-1, 1))
            )
        return torch.cat(pooled, dim=1)


N_BINS = N_MELS // 2 + 1  # 49 bins of a real FFT along the 96 mel bands
TEMPORAL_PHASES = 8  # polyphase block length of the temporal matmuls
TIMBRAL_CHUNK_ROWS = 32  # (patch, frame) rows per step: ~2.5 MB of spectra, not 150 MB


def _pool_relu_bn(
    responses: torch.Tensor,
    fast: dict[str, torch.Tensor],
    name: str,
    *,
    dim: int,
    channel_shape: tuple[int, ...] = (-1,),
) -> torch.Tensor:
    """max over ``dim`` of ``bn(relu(z + bias))``, from sign-flipped ``responses``.

    ReLU and ``x * scale + shift`` are monotonic, increasing where ``scale >= 0``, so
    the max of the transformed values is the transform of max(z), or of min(z) where
    the scale is negative. The fast filters of those channels are negated
    (:func:`_prepare_fast_weights`): ``responses = sign * z``, and
    ``sign * max(responses)`` is max(z) or min(z) as needed, with a single reduction.
    The big tensor is only reduced, never mapped.
    ``channel_shape`` makes the per-channel parameters broadcast against the result.
    """
    sign, bias, scale, shift = (
        fast[f"{name}.{key}"].view(channel_shape) for key in ("sign", "bias", "scale", "shift")
    )
    pooled = responses.amax(dim=dim) * sign
    return F.relu(pooled + bias) * scale + shift


def _inverse_real_dft(n_valid: int) -> torch.Tensor:
    """[n_valid, 2*49] matrix: (re_0..re_48, im_0..im_48) -> the first n_valid samples
    of the length-96 inverse real DFT (imaginary parts of bins 0 and 48 are ignored,
    as irfft does)."""
    k = torch.arange(N_BINS, dtype=torch.float64)
    n = torch.arange(n_valid, dtype=torch.float64)[:, None]
    angle = 2 * torch.pi * n * k / N_MELS
    weight = torch.full((N_BINS,), 2.0, dtype=torch.float64)
    weight[0] = weight[-1] = 1.0
    real = weight * torch.cos(angle) / N_MELS
    imag = -weight * torch.sin(angle) / N_MELS
    imag[:, 0] = imag[:, -1] = 0.0
    return torch.cat([real, imag], dim=1)


def _prepare_fast_weights(net: MusicnnNet) -> dict[str, torch.Tensor]:
    """Filters in the forms the fast path uses (transforms in float64, stored float32).

    Filters of channels whose batch-norm scale is negative are negated (see
    :func:`_pool_relu_bn`).
    """
    fast: dict[str, torch.Tensor] = {}
    for name in [*TIMBRAL_WIDTHS, *(f"temporal_{k}" for k in TEMPORAL_LENGTHS)]:
        block = getattr(net, name)
        scale, shift = _bn_scale_shift(block.bn)
        fast[f"{name}.bias"] = block.conv.bias.detach()
        fast[f"{name}.scale"] = scale
        fast[f"{name}.shift"] = shift
        fast[f"{name}.sign"] = torch.where(scale < 0, -1.0, 1.0).to(scale)
    for name, width in TIMBRAL_WIDTHS.items():
        block = getattr(net, name)
        sign = fast[f"{name}.sign"].double()[:, None, None]
        weight = block.conv.weight[:, 0].double() * sign  # [204, 7, width]
        # cross-correlation along frequency = irfft(conj(W_hat) * X_hat): outputs
        # 0 .. 96-width of the circular result are free of wrap-around
        kernel = torch.conj(torch.fft.rfft(weight, n=N_MELS, dim=2))
        kernel = kernel.permute(2, 1, 0)  # [49 bins, 7 taps, 204]
        real, imag = kernel.real, kernel.imag
        # inputs (re taps | im taps); re_out = xr*wr - xi*wi, im_out = xr*wi + xi*wr
        fast[f"{name}.kernel_re"] = torch.cat([real, -imag], dim=1).float().contiguous()
        fast[f"{name}.kernel_im"] = torch.cat([imag, real], dim=1).float().contiguous()
        inverse = _inverse_real_dft(N_MELS - width + 1)
        fast[f"{name}.inverse_dft"] = inverse.to(block.conv.weight).contiguous()
    for length in TEMPORAL_LENGTHS:
        name = f"temporal_{length}"
        weight = getattr(net, name).conv.weight[:, 0, :, 0]  # [51, k]
        weight = weight * fast[f"{name}.sign"][:, None]
        fast[f"{name}.polyphase"] = _polyphase_filters(weight, TEMPORAL_PHASES)
    return fast


def _polyphase_filters(weight: torch.Tensor, phases: int) -> torch.Tensor:
    """[P * n_taps, O * P] matrix of the k-tap filters ``weight`` [O, k] in polyphase form.

    With input blocks ``b[tau, c] = x[P * tau + c]``, output ``y[o, P * tau + phi] =
    sum_j weight[o, j] x[P * tau + phi + j]`` is ``sum_{c, m} b[tau + m, c] *
    W[(c, m), (o, phi)]`` where ``W = weight[o, P * m + c - phi]`` (zero outside 0..k-1).
    """
    n_filters, length = weight.shape
    n_taps = -(-(length + phases - 1) // phases)
    c = torch.arange(phases)[:, None, None]
    m = torch.arange(n_taps)[None, :, None]
    phi = torch.arange(phases)[None, None, :]
    tap = phases * m + c - phi  # [P (c), n_taps (m), P (phi)]
    valid = (tap >= 0) & (tap < length)
    gathered = weight[:, tap.clamp(0, length - 1)] * valid.to(weight)  # [O, c, m, phi]
    # rows (c, m) match the unfolded windows [.., c, m]; columns (o, phi)
    return gathered.permute(1, 2, 0, 3).reshape(phases * n_taps, n_filters * phases).contiguous()
