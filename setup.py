"""Build the native cores `shoal._ext.*` from cython_ext/.

Cython resolves `cimport shoal._ext.<name>` through .pxd files laid out as the package; the
source room is called cython_ext/, so the .pxd files are staged under build/pxd/shoal/_ext
before cythonizing. OpenMP is used when the compiler supports it; without it the same code
builds single-threaded (prange runs serially).
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

ROOT = Path(__file__).parent
SOURCES = ROOT / "cython_ext"
STAGED_PXD = ROOT / "build" / "pxd"


def stage_pxd_files() -> None:
    package_dir = STAGED_PXD / "shoal" / "_ext"
    package_dir.mkdir(parents=True, exist_ok=True)
    (STAGED_PXD / "shoal" / "__init__.pxd").touch()
    (package_dir / "__init__.pxd").touch()
    for pxd in SOURCES.glob("*.pxd"):
        shutil.copyfile(pxd, package_dir / pxd.name)


def compiler_supports_openmp() -> bool:
    if os.environ.get("SHOAL_NO_OPENMP"):
        return False
    compiler = sysconfig.get_config_var("CC") or "cc"
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "omp.c"
        source.write_text("#include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n")
        try:
            result = subprocess.run(
                [*compiler.split(), "-fopenmp", str(source), "-o", str(Path(tmp) / "omp")],
                capture_output=True,
            )
        except OSError:
            return False
        return result.returncode == 0


def extensions() -> list[Extension]:
    # SHOAL_BUILD_ONLY=maze,core rebuilds just those cores while working on one game.
    only = {name for name in os.environ.get("SHOAL_BUILD_ONLY", "").split(",") if name}
    openmp = ["-fopenmp"] if sys.platform != "win32" and compiler_supports_openmp() else []
    # -ffp-contract=off: no fused multiply-add contraction, so float physics is bit-identical
    # across x86 and ARM builds (the determinism test pins trajectory hashes).
    # -g0: no debug info in the shipped modules (it was four fifths of their size).
    compile_args = ["-O3", "-g0", "-fno-strict-aliasing", "-ffp-contract=off", *openmp]
    return [
        Extension(
            f"shoal._ext.{pyx.stem}",
            [str(pyx.relative_to(ROOT))],
            extra_compile_args=compile_args,
            extra_link_args=openmp,
        )
        for pyx in sorted(SOURCES.glob("*.pyx"))
        if pyx.stem in only or not only
    ]


# Both steps use every core: cythonize translates the .pyx files in parallel, and build_ext
# compiles the extensions in parallel (its `parallel` option, here the default of every
# build, editable or wheel). SHOAL_BUILD_JOBS=1 builds serially.
BUILD_JOBS = int(os.environ.get("SHOAL_BUILD_JOBS", "0")) or os.cpu_count() or 1

stage_pxd_files()
setup(
    options={"build_ext": {"parallel": BUILD_JOBS}},
    ext_modules=cythonize(
        extensions(),
        nthreads=BUILD_JOBS if BUILD_JOBS > 1 else 0,
        include_path=[str(STAGED_PXD)],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "embedsignature": True,
        },
    ),
)
