"""VM sizes we know (Azure ML managed online endpoint SKU list): cores, memory, GPUs, quota family."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Sku:
    """One VM size; `reserve_exempt` SKUs skip Azure's extra 20 % quota reservation."""

    name: str
    cores: int
    memory_gb: float
    gpus: float
    family: str
    reserve_exempt: bool = False


def _sku(name: str, cores: int, memory_gb: float, family: str, gpus: float = 0, exempt: bool = False) -> Sku:
    return Sku(name, cores, memory_gb, gpus, family, exempt)


# Family names are the quota family ids Azure reports (spaces removed from the display names).
_TABLE: tuple[Sku, ...] = (
    *(_sku(f"Standard_D{c}as_v4", c, 4 * c, "standardDASv4Family") for c in (2, 4, 8, 16, 32, 48, 64, 96)),
    *(_sku(f"Standard_D{c}a_v4", c, 4 * c, "standardDAv4Family") for c in (2, 4, 8, 16, 32, 48, 64, 96)),
    _sku("Standard_DS1_v2", 1, 3.5, "standardDSv2Family"),
    _sku("Standard_DS2_v2", 2, 7, "standardDSv2Family"),
    _sku("Standard_DS3_v2", 4, 14, "standardDSv2Family"),
    _sku("Standard_DS4_v2", 8, 28, "standardDSv2Family"),
    _sku("Standard_DS5_v2", 16, 56, "standardDSv2Family"),
    *(
        _sku(f"Standard_E{c}s_v3", c, m, "standardESv3Family")
        for c, m in ((2, 16), (4, 32), (8, 64), (16, 128), (32, 256), (48, 384), (64, 432))
    ),
    *(_sku(f"Standard_F{c}s_v2", c, 2 * c, "standardFSv2Family") for c in (2, 4, 8, 16, 32, 48, 64, 72)),
    *(_sku(f"Standard_FX{c}mds", c, 21 * c, "standardFXMDVSFamily") for c in (4, 12, 24, 36, 48)),
    *(_sku(f"Standard_L{c}as_v3", c, 8 * c, "standardLASv3Family") for c in (8, 16, 32, 48, 64, 80)),
    *(_sku(f"Standard_L{c}s_v2", c, 8 * c, "standardLSv2Family") for c in (8, 16, 32, 48, 64, 80)),
    *(_sku(f"Standard_L{c}s_v3", c, 8 * c, "standardLSv3Family") for c in (8, 16, 32, 48, 64, 80)),
    _sku("Standard_NC24ads_A100_v4", 24, 220, "standardNCADSA100v4Family", gpus=1, exempt=True),
    _sku("Standard_NC48ads_A100_v4", 48, 440, "standardNCADSA100v4Family", gpus=2, exempt=True),
    _sku("Standard_NC96ads_A100_v4", 96, 880, "standardNCADSA100v4Family", gpus=4, exempt=True),
    _sku("Standard_NC4as_T4_v3", 4, 28, "standardNCASv3_T4Family", gpus=1),
    _sku("Standard_NC8as_T4_v3", 8, 56, "standardNCASv3_T4Family", gpus=1),
    _sku("Standard_NC16as_T4_v3", 16, 110, "standardNCASv3_T4Family", gpus=1),
    _sku("Standard_NC64as_T4_v3", 64, 440, "standardNCASv3_T4Family", gpus=4),
    _sku("Standard_NC6s_v2", 6, 112, "standardNCSv2Family", gpus=1),
    _sku("Standard_NC12s_v2", 12, 224, "standardNCSv2Family", gpus=2),
    _sku("Standard_NC24s_v2", 24, 448, "standardNCSv2Family", gpus=4),
    _sku("Standard_NC6s_v3", 6, 112, "standardNCSv3Family", gpus=1),
    _sku("Standard_NC12s_v3", 12, 224, "standardNCSv3Family", gpus=2),
    _sku("Standard_NC24s_v3", 24, 448, "standardNCSv3Family", gpus=4),
    _sku("Standard_NC40ads_H100_v5", 40, 320, "standardNCADSH100v5Family", gpus=1, exempt=True),
    _sku("Standard_NC80adis_H100_v5", 80, 640, "standardNCADSH100v5Family", gpus=2, exempt=True),
    _sku("Standard_ND96amsr_A100_v4", 96, 1900, "standardNDAMSv4_A100Family", gpus=8, exempt=True),
    _sku("Standard_ND96asr_v4", 96, 900, "standardNDASv4_A100Family", gpus=8, exempt=True),
    _sku("Standard_ND40rs_v2", 40, 672, "standardNDSv2Family", gpus=8, exempt=True),
    _sku("Standard_ND96is_H100_v5", 96, 1900, "standardNDv5H100Family", gpus=8, exempt=True),
    _sku("Standard_ND96isr_H100_v5", 96, 1900, "standardNDv5H100Family", gpus=8, exempt=True),
    # NV A10 sizes share one GPU between several VMs, hence the fractions.
    _sku("Standard_NV6ads_A10_v5", 6, 55, "standardNVADSA10v5Family", gpus=1 / 6),
    _sku("Standard_NV12ads_A10_v5", 12, 110, "standardNVADSA10v5Family", gpus=1 / 3),
    _sku("Standard_NV18ads_A10_v5", 18, 220, "standardNVADSA10v5Family", gpus=1 / 2),
    _sku("Standard_NV36ads_A10_v5", 36, 440, "standardNVADSA10v5Family", gpus=1),
    _sku("Standard_NV36adms_A10_v5", 36, 880, "standardNVADSA10v5Family", gpus=1),
    _sku("Standard_NV72ads_A10_v5", 72, 880, "standardNVADSA10v5Family", gpus=2),
)

# What an instance gets when its instance_type is no size of this table (custom containers, Kubernetes
# instance types such as defaultinstancetype): the local target's default (components/targets/local_plan.py).
DEFAULT_CORES = 1
DEFAULT_MEMORY_GB = 2.0

SKUS: Mapping[str, Sku] = MappingProxyType({sku.name: sku for sku in _TABLE})
"""Known VM sizes by their canonical name (e.g. ``Standard_DS3_v2``)."""

# Azure treats VM size names case-insensitively; so do we.
_BY_LOWER: Mapping[str, Sku] = MappingProxyType({sku.name.lower(): sku for sku in _TABLE})


def find_sku(name: str) -> Sku | None:
    """The known SKU with this name (any case), or None."""
    return _BY_LOWER.get(name.strip().lower())


def nearest_skus(name: str, count: int = 3) -> list[str]:
    """Canonical names of the known SKUs that look most like `name`, best first."""
    matches = difflib.get_close_matches(name.strip().lower(), list(_BY_LOWER), n=count, cutoff=0.0)
    return [_BY_LOWER[match].name for match in matches]
