"""framecast.nn: the ConvLSTM layers people use in their own models (shapes, states, options, gradients)."""

import pytest
import torch

from framecast.nn import ConvLSTM, ConvLSTMCell


def test_cell_shapes_and_forget_bias():
    cell = ConvLSTMCell(3, 5, 3)
    x = torch.rand(2, 3, 8, 8)
    h, c = cell(x)  # no state: zeros
    assert h.shape == c.shape == (2, 5, 8, 8)
    assert torch.all(cell.gates.bias[5:10] == 1) and torch.all(cell.gates.bias[:5] == 0)
    torch.testing.assert_close(cell(x, cell.zero_state(x)), (h, c))


def test_sequence_output_states_and_return_sequences_agree():
    torch.manual_seed(0)
    rnn = ConvLSTM(2, (4, 6), (3, 5))
    x = torch.rand(3, 7, 2, 8, 10)
    out, states = rnn(x)
    assert out.shape == (3, 7, 6, 8, 10)
    assert [tuple(h.shape) for h, _ in states] == [(3, 4, 8, 10), (3, 6, 8, 10)]
    torch.testing.assert_close(states[-1][0], out[:, -1])  # the top layer's last h is the last output
    rnn.return_sequences = False
    last, _ = rnn(x)
    torch.testing.assert_close(last, out[:, -1])


def test_time_first_input_gives_the_same_result_transposed():
    torch.manual_seed(0)
    rnn = ConvLSTM(1, 4, 3, num_layers=2)
    x = torch.rand(2, 5, 1, 6, 6)
    out, _ = rnn(x)
    rnn.batch_first = False
    out_t, _ = rnn(x.transpose(0, 1))
    torch.testing.assert_close(out_t.transpose(0, 1), out)


def test_states_carried_across_calls_continue_the_sequence():
    torch.manual_seed(0)
    rnn = ConvLSTM(1, (4, 4), 3)
    x = torch.rand(2, 6, 1, 8, 8)
    whole, end = rnn(x)
    first, mid = rnn(x[:, :3])
    second, end2 = rnn(x[:, 3:], mid)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    torch.testing.assert_close(end2, end)
    other, _ = rnn(x[:, 3:])  # a zero start differs: the state matters
    assert not torch.allclose(other, second)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's note on speed
def test_dilation_and_even_kernels_keep_the_frame_size():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 2, 9, 9)
    plain, _ = ConvLSTM(2, 3, 3)(x)
    torch.manual_seed(0)
    dilated, _ = ConvLSTM(2, 3, 3, dilation=2)(x)
    even, _ = ConvLSTM(2, 3, 4)(x)
    assert plain.shape == dilated.shape == even.shape == (1, 3, 3, 9, 9)
    assert not torch.allclose(plain, dilated)  # same weights, a wider view


def test_peepholes_act_per_channel_on_any_size_or_per_position():
    x = torch.rand(2, 4, 1, 6, 6)
    per_channel = ConvLSTM(1, 3, 3, peephole=True)
    per_position = ConvLSTM(1, 3, 3, peephole=True, peephole_size=6)
    assert per_channel.cells[0].peephole.shape == (3, 3, 1, 1)
    assert per_position.cells[0].peephole.shape == (3, 3, 6, 6)
    assert per_channel(torch.rand(1, 2, 1, 11, 7))[0].shape == (1, 2, 3, 11, 7)
    before, _ = per_channel(x)
    with torch.no_grad():
        per_channel.cells[0].peephole.fill_(0.5)
    after, _ = per_channel(x)
    assert not torch.allclose(before, after)


def test_layer_norm_replaces_the_gate_bias():
    cell = ConvLSTM(1, 3, 3, layer_norm=True).cells[0]
    assert cell.gates.bias is None and torch.all(cell.norm.bias[3:6] == 1)


def test_dropout_draws_one_mask_per_sequence_and_only_while_training():
    torch.manual_seed(0)
    rnn = ConvLSTM(2, (3, 4), 3, dropout=0.5, recurrent_dropout=0.25)
    x = torch.rand(2, 4, 2, 6, 6)
    masks = rnn.dropout_masks(x[:, 0])
    assert [tuple(m.shape) for pair in masks for m in pair] == [(2, 2, 6, 6), (2, 3, 6, 6), (2, 3, 6, 6), (2, 4, 6, 6)]
    torch.testing.assert_close(masks[0][0].unique(), torch.tensor([0.0, 2.0]))  # kept values scaled by 1 / (1 - p)
    torch.testing.assert_close(masks[0][1].unique(), torch.tensor([0.0, 4 / 3]))

    torch.manual_seed(1)
    trained, _ = rnn(x)
    torch.manual_seed(1)
    masks, states, manual = rnn.dropout_masks(x[:, 0]), None, []
    for t in range(4):  # the same masks at every step
        top, states = rnn.step(x[:, t], states, masks)
        manual.append(top)
    torch.testing.assert_close(trained, torch.stack(manual, dim=1))

    rnn.eval()
    assert rnn.dropout_masks(x[:, 0]) is None
    torch.testing.assert_close(rnn(x)[0], rnn(x)[0])


@pytest.mark.parametrize("options", [{}, {"peephole": True, "layer_norm": True},
                                     {"batch_norm": True, "activation": "relu", "dropout": 0.2,
                                      "recurrent_dropout": 0.2}])
def test_every_parameter_gets_a_gradient(options):
    rnn = ConvLSTM(2, (3, 4, 2), (3, 1, 5), **options)
    out, states = rnn(torch.rand(2, 4, 2, 6, 6))
    (out.square().mean() + states[0][1].mean()).backward()
    for name, p in rnn.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), f"no finite gradient for {name}"


@pytest.mark.parametrize("args, options, message", [
    ((1, (3, 4), (3, 3, 3)), {}, "agree on the number of layers"),
    ((1, 3, 3), {"num_layers": 0}, "agree on the number of layers"),
    ((1, 3, 3), {"padding": "valid"}, "padding should be 'same'"),
    ((1, 3, 3), {"activation": "gelu"}, "activation should be one of tanh, relu"),
    ((1, 0, 3), {}, "hidden_channels should be a whole number >= 1"),
    ((1, 3, 3), {"dropout": 1.0}, r"dropout should be in \[0, 1\)"),
])
def test_bad_arguments_are_refused_with_their_value(args, options, message):
    with pytest.raises(ValueError, match=message):
        ConvLSTM(*args, **options)


def test_inputs_and_states_of_the_wrong_form_are_refused_with_what_was_expected():
    rnn = ConvLSTM(1, 3, num_layers=2)
    with pytest.raises(ValueError, match=r"expected a 5-D input \[B, T, C, H, W\], but got shape \(2, 1, 8, 8\)"):
        rnn(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="expected at least one time step"):
        rnn(torch.rand(2, 0, 1, 8, 8))
    with pytest.raises(ValueError, match=r"initial_state should hold one \(h, c\) per layer \(2\), but got 1"):
        rnn(torch.rand(2, 3, 1, 8, 8), [ConvLSTMCell(1, 3).zero_state(torch.rand(2, 1, 8, 8))])
