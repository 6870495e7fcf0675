"""The two-input example trains, agrees with its one-X Slice twin, and draws both inputs."""
from _examples import load_example


def test_two_inputs_example_small_run(tmp_path):
    example = load_example("two_inputs")
    example.OUTPUT = tmp_path
    out = example.main(n_train=500, epochs=2, render=False)
    assert out["same theta"]
    assert out["two inputs"] == out["one X, sliced"] > 0.5
    assert 'label="image\\nInput (784 features)"' in out["dot"] and 'label="odd\\nInput (1 features)"' in out["dot"]
