"""Loaders: torchvision and MONAI by name, TorchScript files, checkpoints (weights_only)."""

from pathlib import Path

import pytest
import torch

from medrobust.errors import ModelError
from medrobust.models.adapter import ModelAdapter
from medrobust.models.checkpoints import load_state_dict
from medrobust.models.loaders import monai_model, torchscript_model, torchvision_model
from medrobust.models.registry import build_model
from medrobust.models.small_cnn import SmallCNN


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "densenet121", "efficientnet_b0"])
def test_torchvision_channels_and_classes_adapted(name: str) -> None:
    net = torchvision_model(name, num_classes=3, in_channels=1)
    adapter = ModelAdapter(net, "multiclass", input_shape=(1, 32, 32))
    assert adapter.head.num_logits == 3


def test_torchvision_weights_roundtrip(tmp_path: Path) -> None:
    net = torchvision_model("resnet18", num_classes=2, in_channels=1)
    torch.save(net.state_dict(), tmp_path / "w.pt")
    again = torchvision_model("resnet18", num_classes=2, in_channels=1, weights=tmp_path / "w.pt")
    x = torch.rand(2, 1, 32, 32)
    assert torch.allclose(net.eval()(x), again.eval()(x))


@pytest.mark.parametrize(("name", "dims", "shape"), [("DenseNet121", 2, (1, 32, 32)), ("ResNet18", 3, (1, 16, 16, 16))])
def test_monai_networks_2d_and_3d(name: str, dims: int, shape: tuple[int, ...]) -> None:
    net = monai_model(name, num_classes=2, in_channels=1, spatial_dims=dims)
    adapter = ModelAdapter(net, "binary", input_shape=shape)
    assert adapter.spatial_dims == dims and adapter.head.num_logits == 2


def test_torchscript_file(tmp_path: Path) -> None:
    net = SmallCNN(1, 2).eval()
    path = tmp_path / "model.ts"
    torch.jit.trace(net, torch.rand(1, 1, 28, 28)).save(str(path))
    adapter = build_model("torchscript", weights=path, num_classes=2, input_shape=(1, 28, 28))
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(adapter.logits(x), net(x), atol=1e-6)
    with pytest.raises(ModelError, match="not found"):
        torchscript_model(tmp_path / "model.ts.missing")
    torch.save(net.state_dict(), tmp_path / "state.pt")
    with pytest.raises(ModelError, match=r"state\.pt: not a TorchScript file"):
        torchscript_model(tmp_path / "state.pt")


def test_checkpoint_that_is_not_a_state_dict(tmp_path: Path) -> None:
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ModelError, match="not a state dict"):
        load_state_dict(tmp_path / "list.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelError, match=r"junk\.pt"):
        load_state_dict(tmp_path / "junk.pt")


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("unpickled!",))


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    torch.save({"model": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ModelError, match="refusing to unpickle"):
        load_state_dict(tmp_path / "evil.pt")


def test_nested_checkpoint_and_module_prefix(tmp_path: Path) -> None:
    net = SmallCNN(1, 2)
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    torch.save({"epoch": 3, "state_dict": state}, tmp_path / "ckpt.pt")
    loaded = load_state_dict(tmp_path / "ckpt.pt")
    assert set(loaded) == set(net.state_dict())


def test_weights_for_the_wrong_architecture(tmp_path: Path) -> None:
    torch.save(SmallCNN(1, 3).state_dict(), tmp_path / "w.pt")
    with pytest.raises(ModelError, match="do not fit"):
        build_model("smallcnn", weights=tmp_path / "w.pt", num_classes=2)
