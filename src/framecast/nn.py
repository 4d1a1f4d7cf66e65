"""Convolutional LSTM layers for your own PyTorch models: `ConvLSTMCell` (one step) and `ConvLSTM` (stacked layers
over a sequence), the cell of Shi et al. (2015) with the options of Keras' `ConvLSTM2D` in PyTorch's idiom.

    import torch
    from framecast.nn import ConvLSTM

    rnn = ConvLSTM(1, hidden_channels=(32, 32), kernel_size=3)   # 2 layers
    out, states = rnn(torch.rand(8, 10, 1, 64, 64))              # [B, T, C, H, W] -> out [8, 10, 32, 64, 64]
    more, states = rnn(torch.rand(8, 5, 1, 64, 64), states)      # carry the state on: stateful use

Only torch is imported here: the module can be copied or imported without the rest of framecast.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each [B, hidden, H, W]
ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}


class ConvLSTMCell(nn.Module):
    """One ConvLSTM layer for one time step: a single convolution over `[x, h]` gives the input, forget, cell and
    output gates (Keras' order i, f, c, o), as in Shi et al. (2015) eq. 3:

        i = sigmoid(W_xi * x + W_hi * h + W_ci . c + b_i)      (* convolution, . Hadamard product: peepholes)
        f = sigmoid(W_xf * x + W_hf * h + W_cf . c + b_f)
        c' = f . c + i . act(W_xc * x + W_hc * h + b_c)
        o = sigmoid(W_xo * x + W_ho * h + W_co . c' + b_o)
        h' = o . act(c')

    Args:
        in_channels: channels C of the input x `[B, C, H, W]`.
        hidden_channels: channels of h and c `[B, hidden_channels, H, W]`.
        kernel_size: side of the square gate convolution (odd or even; padding "same" keeps H and W).
        dilation: dilation of the gate convolution (on x and h alike; Keras dilates the input only).
        padding: "same", the only padding that keeps the state the size of the input.
        activation: "tanh" (Shi et al., Keras' default) or "relu" for the cell input and output.
        peephole: add the Hadamard terms W_ci . c, W_cf . c, W_co . c (initialised to 0).
        peephole_size: (H, W) or one int for square frames: one peephole weight per position and channel, as in
            Shi et al.; the cell then takes only frames of that size. None: one weight per channel, any frame size.
        layer_norm: normalise the gate pre-activations over (C, H, W) (GroupNorm with one group); the norm's
            bias replaces the convolution's.

    The forget gate's bias starts at 1 (Keras' `unit_forget_bias`): the cell remembers by default early in
    training. Weights: `gates.weight` `[4 * hidden, in + hidden, k, k]` (input channels first, then h),
    `gates.bias` or `norm.weight`/`norm.bias` `[4 * hidden]`, `peephole` `[3, hidden, H or 1, W or 1]`.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3, *, dilation: int = 1,
                 padding: str = "same", activation: str = "tanh", peephole: bool = False,
                 peephole_size: int | tuple[int, int] | None = None, layer_norm: bool = False) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("hidden_channels", hidden_channels),
                            ("kernel_size", kernel_size), ("dilation", dilation)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} should be a whole number >= 1, but got {value!r}")
        if padding != "same":
            raise ValueError(f"padding should be 'same' (the state keeps the input's size), but got {padding!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation should be one of {', '.join(ACTIVATIONS)}, but got {activation!r}")
        self.in_channels, self.hidden_channels, self.activation = in_channels, hidden_channels, activation
        self.act = ACTIVATIONS[activation]
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size, padding="same",
                               dilation=dilation, bias=not layer_norm)
        self.norm = nn.GroupNorm(1, 4 * hidden_channels) if layer_norm else None
        size = (1, 1) if peephole_size is None else _pair(peephole_size)
        self.peephole = nn.Parameter(torch.zeros(3, hidden_channels, *size)) if peephole else None
        bias = self.norm.bias if layer_norm else self.gates.bias
        with torch.no_grad():
            bias.zero_()
            bias[hidden_channels:2 * hidden_channels] = 1.0

    def zero_state(self, x: torch.Tensor) -> State:
        """Zero (h, c), each `[B, hidden, H, W]`, for an input x `[B, C, H, W]`."""
        h = x.new_zeros(x.shape[0], self.hidden_channels, x.shape[2], x.shape[3])
        return h, h

    def forward(self, x: torch.Tensor, state: State | None = None) -> State:
        """x `[B, in_channels, H, W]`, state (h, c) each `[B, hidden, H, W]` (None: zeros) -> new (h, c)."""
        h, c = self.zero_state(x) if state is None else state
        z = self.gates(torch.cat([x, h], dim=1))  # (B, 4*hidden, H, W)
        if self.norm is not None:
            z = self.norm(z)
        i, f, g, o = z.chunk(4, dim=1)
        if self.peephole is not None:
            i, f = i + self.peephole[0] * c, f + self.peephole[1] * c
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * self.act(g)
        if self.peephole is not None:
            o = o + self.peephole[2] * c  # the new cell state, as in Shi et al.
        return torch.sigmoid(o) * self.act(c), c

    @torch.no_grad()
    def load_keras_weights(self, kernel, recurrent_kernel, bias) -> None:
        """Copy the weights of a Keras `ConvLSTM2D` layer (`layer.get_weights()`, channels_last) into this cell.

        kernel `[k, k, in_channels, 4 * hidden]`, recurrent_kernel `[k, k, hidden, 4 * hidden]`, bias `[4 * hidden]`
        (arrays or tensors). Keras' default activations (tanh, recurrent sigmoid) and gate order match this cell's;
        a Keras layer has no peepholes or layer norm, and dilates its input convolution only."""
        if self.norm is not None or self.peephole is not None:
            raise ValueError("a Keras ConvLSTM2D has no layer norm or peepholes; build the cell without them")
        both = torch.cat([torch.as_tensor(kernel), torch.as_tensor(recurrent_kernel)], dim=2)  # (k, k, in+hid, 4*hid)
        weight = both.permute(3, 2, 0, 1)  # (4*hid, in+hid, k, k): Keras' HWIO to torch's OIHW
        if weight.shape != self.gates.weight.shape or tuple(torch.as_tensor(bias).shape) != (4 * self.hidden_channels,):
            raise ValueError(f"Keras weights of shapes {tuple(both.shape)} and {tuple(torch.as_tensor(bias).shape)} "
                             f"do not fit this cell's {tuple(self.gates.weight.shape)} (torch's layout)")
        self.gates.weight.copy_(weight)
        self.gates.bias.copy_(torch.as_tensor(bias))

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}"


class ConvLSTM(nn.Module):
    """Stacked ConvLSTM layers run over a sequence, like Keras' `ConvLSTM2D` (one per layer) or `nn.LSTM`.

    Args:
        in_channels: channels C of the input frames.
        hidden_channels: channels of each layer; one int and `num_layers`, or one entry per layer.
        kernel_size: kernel side of each layer's gate convolution; one int, or one entry per layer.
        num_layers: how many layers, when neither `hidden_channels` nor `kernel_size` is a sequence (default 1).
        batch_first: input and output `[B, T, C, H, W]` (True, the default) or time first `[T, B, C, H, W]`.
        return_sequences: return every step's top-layer h (True) or the last step's only (Keras' default False).
        dilation: dilation of each layer's convolution; one int, or one entry per layer.
        dropout: probability of zeroing each layer's input x (Keras' `dropout`) while training.
        recurrent_dropout: probability of zeroing the h each layer feeds back to its gates (Keras'
            `recurrent_dropout`) while training. Both draw one mask per call of `forward`, shared by all time
            steps (variational dropout, as Keras does), and scale the kept values by 1 / (1 - p).
        batch_norm: BatchNorm2d on the output of every layer but the last (the Keras ConvLSTM2D example).
        activation, padding, peephole, peephole_size, layer_norm: as `ConvLSTMCell`, for every layer.

    Attributes: `cells` (one `ConvLSTMCell` per layer), `norms` (BatchNorm2d or Identity between layers).
    """

    def __init__(self, in_channels: int, hidden_channels: int | Sequence[int], kernel_size: int | Sequence[int] = 3,
                 *, num_layers: int | None = None, batch_first: bool = True, return_sequences: bool = True,
                 dilation: int | Sequence[int] = 1, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 batch_norm: bool = False, activation: str = "tanh", padding: str = "same", peephole: bool = False,
                 peephole_size: int | tuple[int, int] | None = None, layer_norm: bool = False) -> None:
        super().__init__()
        per_layer = {"hidden_channels": hidden_channels, "kernel_size": kernel_size, "dilation": dilation}
        hidden, kernel, dilations = _per_layer(per_layer, num_layers)
        for name, p in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0 <= p < 1:
                raise ValueError(f"{name} should be in [0, 1), but got {p!r}")
        self.batch_first, self.return_sequences = batch_first, return_sequences
        self.dropout, self.recurrent_dropout = dropout, recurrent_dropout
        widths = (in_channels, *hidden)
        self.cells = nn.ModuleList(
            ConvLSTMCell(widths[i], widths[i + 1], kernel[i], dilation=dilations[i], padding=padding,
                         activation=activation, peephole=peephole, peephole_size=peephole_size, layer_norm=layer_norm)
            for i in range(len(hidden))
        )
        self.norms = nn.ModuleList(nn.BatchNorm2d(h) if batch_norm else nn.Identity() for h in hidden[:-1])

    def init_state(self, x: torch.Tensor) -> list[State]:
        """Zero (h, c) for every layer, each `[B, hidden_i, H, W]`, for one step's input x `[B, C, H, W]`."""
        return [cell.zero_state(x) for cell in self.cells]

    def dropout_masks(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """One (input, recurrent) dropout mask pair per layer for one step's input x `[B, C, H, W]`, each
        `[B, channels, H, W]` of 0 and 1 / (1 - p); None when not training or without dropout."""
        if not self.training or (self.dropout == 0 and self.recurrent_dropout == 0):
            return None
        b, _, hgt, wid = x.shape

        def mask(channels: int, p: float) -> torch.Tensor:
            keep = x.new_full((b, channels, hgt, wid), 1 - p)
            return torch.bernoulli(keep) / (1 - p)

        return [(mask(cell.in_channels, self.dropout), mask(cell.hidden_channels, self.recurrent_dropout))
                for cell in self.cells]

    def step(self, x: torch.Tensor, states: list[State] | None = None,
             masks: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> tuple[torch.Tensor, list[State]]:
        """Advance every layer one time step, for models that feed their outputs back (see framecast.model.predictor).

        x `[B, in_channels, H, W]`, states: (h, c) per layer (None: zeros), masks: from `dropout_masks`, to keep
        one mask across steps (None: no dropout) -> top layer's h `[B, hidden[-1], H, W]` and the new states."""
        states = self.init_state(x) if states is None else states
        new_states = []
        for i, cell in enumerate(self.cells):
            h, c = states[i]
            if masks is not None:
                x, h = x * masks[i][0], h * masks[i][1]  # the state carried on keeps the unmasked h
            h_new, c = cell(x, (h, c))
            new_states.append((h_new, c))
            x = self.norms[i](h_new) if i < len(self.norms) else h_new
        return x, new_states

    def forward(self, x: torch.Tensor, initial_state: list[State] | None = None
                ) -> tuple[torch.Tensor, list[State]]:
        """Run the layers over a sequence.

        x: `[B, T, C, H, W]` (`[T, B, C, H, W]` if not batch_first); initial_state: (h, c) per layer, each
        `[B, hidden_i, H, W]` (None: zeros; pass the returned states to continue a sequence across calls).
        Returns (output, states): output `[B, T, hidden[-1], H, W]` (time first if not batch_first), or
        `[B, hidden[-1], H, W]` without return_sequences; states: the last step's (h, c) of every layer.
        """
        if x.dim() != 5:
            order = "[B, T, C, H, W]" if self.batch_first else "[T, B, C, H, W]"
            raise ValueError(f"expected a 5-D input {order}, but got shape {tuple(x.shape)}")
        steps = x.unbind(1 if self.batch_first else 0)  # T tensors (B, C, H, W)
        if not steps:
            raise ValueError(f"expected at least one time step, but got shape {tuple(x.shape)}")
        if initial_state is not None and len(initial_state) != len(self.cells):
            raise ValueError(f"initial_state should hold one (h, c) per layer ({len(self.cells)}), but got "
                             f"{len(initial_state)}")
        masks = self.dropout_masks(steps[0])
        states, outputs = initial_state, []
        for x_t in steps:
            top, states = self.step(x_t, states, masks)
            outputs.append(top)
        if not self.return_sequences:
            return outputs[-1], states
        return torch.stack(outputs, dim=1 if self.batch_first else 0), states


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(size)


def _per_layer(values: dict[str, int | Sequence[int]], num_layers: int | None) -> list[tuple[int, ...]]:
    """Each value as one entry per layer: ints repeated, sequences checked to agree in length."""
    lengths = {len(v) for v in values.values() if not isinstance(v, int)}
    if num_layers is not None:
        lengths.add(num_layers)
    if len(lengths) > 1 or 0 in lengths:
        raise ValueError(f"hidden_channels, kernel_size, dilation and num_layers should agree on the number of "
                         f"layers (>= 1), but got {values} and num_layers={num_layers}")
    layers = lengths.pop() if lengths else 1
    return [(v,) * layers if isinstance(v, int) else tuple(v) for v in values.values()]
