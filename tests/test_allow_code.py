"""A configuration file alone cannot run code: the python model kind needs --allow-code (issue 11, item 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from medrobust.engine.config import load_config
from medrobust.engine.run import run_config
from medrobust.errors import ConfigError
from medrobust.models.registry import ALLOW_CODE_ENV, build_model

RAN: list[str] = []


def factory(width: int = 4):  # type: ignore[no-untyped-def]
    """A user's model factory that records that it ran."""
    from medrobust.models.small_cnn import SmallCNN

    RAN.append("ran")
    return SmallCNN(1, 2, width=width)


def test_python_kind_is_refused_without_allow_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_CODE_ENV, raising=False)
    RAN.clear()
    with pytest.raises(ConfigError, match="--allow-code"):
        build_model("python", name="os:system", command="true")  # never imported, never called
    with pytest.raises(ConfigError, match="--allow-code"):
        build_model("python", name=f"{__name__}:factory")
    assert RAN == []
    assert build_model("python", name=f"{__name__}:factory", allow_code=True, input_shape=(1, 28, 28)) is not None
    monkeypatch.setenv(ALLOW_CODE_ENV, "1")
    assert build_model("python", name=f"{__name__}:factory", input_shape=(1, 28, 28)) is not None
    assert RAN == ["ran", "ran"]


def test_a_config_cannot_allow_code_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_CODE_ENV, raising=False)
    path = tmp_path / "evil.yaml"
    path.write_text(f"model: {{kind: python, name: '{__name__}:factory', allow_code: true}}\nn: 8\n")
    cfg = load_config(path, {"out": str(tmp_path / "out")})
    with pytest.raises(ConfigError, match="cannot be set in a configuration file"):
        run_config(cfg, progress=False)
    with pytest.raises(ConfigError, match="--allow-code"):
        run_config(load_config(None, {"model.kind": "python", "model.name": f"{__name__}:factory", "n": 8}))
