"""Whether a model's C source fits a device: compiled with this machine's C compiler (or clang's Arm back
end for a Cortex-M4), its code's bytes (:func:`code_bytes`), and flash and RAM against common
microcontrollers (:func:`device_rows`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .c_source import CSource

COMMON_PARTS = (  # (class of microcontroller, flash bytes, RAM bytes)
    ("small MCU: 256 kB flash, 64 kB RAM", 256 << 10, 64 << 10),
    ("mid-size MCU: 1 MB flash, 256 kB RAM", 1 << 20, 256 << 10),
    ("large MCU: 2 MB flash, 1 MB RAM", 2 << 20, 1 << 20),
)
CORTEX_M4 = ("--target=thumbv7em-none-eabi", "-mcpu=cortex-m4", "-mthumb", "-ffreestanding")  # clang's Arm flags
COMPILE_SECONDS = 120  # a model's C source compiles in ~1 s; a stuck compiler is given up


def compiler() -> str | None:
    """A C compiler on this machine ($CC, gcc, clang or cc), or None."""
    for candidate in (os.environ.get("CC"), "gcc", "clang", "cc"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


def object_sections(source: CSource, cc: str, flags: tuple[str, ...] = ()) -> dict[str, int] | None:
    """Bytes per section (``.text`` code, ``.rodata`` const data, ``.bss`` buffers) of ``source`` compiled
    with ``cc -std=c99 -Os -c`` (and ``flags``), read by binutils' ``size -A``; None when it cannot."""
    if shutil.which(cc) is None or shutil.which("size") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / f"{source.name}.c").write_text(source.source)
        (folder / f"{source.name}.h").write_text(source.header)
        obj = folder / f"{source.name}.o"
        command = [cc, "-std=c99", "-Os", *flags, "-c", "-o", str(obj), str(folder / f"{source.name}.c")]
        build = subprocess.run(command, capture_output=True, timeout=COMPILE_SECONDS)
        if build.returncode != 0:
            return None
        sizes = subprocess.run(["size", "-A", str(obj)], capture_output=True, text=True, timeout=COMPILE_SECONDS)
    sections: dict[str, int] = {}
    for line in sizes.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            name = "." + parts[0].split(".")[1]  # .rodata.L0_W (per-array sections) counts as .rodata
            sections[name] = sections.get(name, 0) + int(parts[1])
    return sections


def code_bytes(source: CSource) -> tuple[int, str] | None:
    """(bytes of machine code, how it was built): for a Cortex-M4 with clang's Arm back end when clang is
    here, else with this machine's compiler (x86-64 code is of the same size); None without a compiler."""
    if shutil.which("clang"):
        sections = object_sections(source, "clang", CORTEX_M4)
        if sections and ".text" in sections:
            return sections[".text"], "Cortex-M4, clang -Os"
    cc = compiler()
    sections = object_sections(source, cc) if cc else None
    if sections and ".text" in sections:
        return sections[".text"], f"{cc} -Os on this machine"
    return None


def device_rows(source: CSource, code: int | None) -> list[dict]:
    """What a device needs for ``source`` and whether common microcontrollers have it: flash = const data
    + code (``code`` from :func:`code_bytes`; unknown without a compiler), RAM = the static buffers (the
    stack adds a few hundred bytes)."""
    flash = source.const_bytes + (code or 0)
    rows = []
    for part, part_flash, part_ram in COMMON_PARTS:
        rows.append(
            {
                "part": part,
                "flash needed": flash,
                "flash": part_flash,
                "RAM needed": source.ram_bytes,
                "RAM": part_ram,
                "fits": flash <= part_flash and source.ram_bytes <= part_ram,
            }
        )
    return rows
