"""Build of kimi's C extension: ext/core (pure C) + ext/python (binding).

libcurl and cJSON come from the system and are found with pkg-config; a
missing one stops the build with the Debian packages to install.
"""
import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup

PACKAGES = {"libcurl": "libcurl4-openssl-dev", "libcjson": "libcjson-dev"}


def pkg_config(*args: str) -> list[str]:
    if shutil.which("pkg-config") is None:
        sys.exit(
            "kimi: pkg-config not found. Install the build dependencies:\n"
            "    apt-get install pkg-config " + " ".join(PACKAGES.values())
        )
    missing = [
        name
        for name in PACKAGES
        if subprocess.run(["pkg-config", "--exists", name]).returncode != 0
    ]
    if missing:
        sys.exit(
            "kimi: pkg-config cannot find "
            + ", ".join(missing)
            + ". Install them:\n    apt-get install "
            + " ".join(PACKAGES[m] for m in missing)
        )
    out = subprocess.check_output(["pkg-config", *args, *PACKAGES], text=True)
    return out.split()


cflags = pkg_config("--cflags")
libs = pkg_config("--libs")
extra_compile = ["-std=c11", "-Wall", "-Wextra", "-D_GNU_SOURCE", *cflags]
extra_link = [*libs]
if os.environ.get("KIMI_SANITIZE"):
    # make test-asan: the extension under AddressSanitizer and UBSan.
    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
    extra_compile += san + ["-O1", "-g"]
    extra_link += san

core = Extension(
    "kimi._core",
    sources=sorted(glob.glob("ext/core/*.c")) + sorted(glob.glob("ext/python/*.c")),
    include_dirs=["ext/core", "ext/python"],
    extra_compile_args=extra_compile,
    extra_link_args=extra_link,
    depends=glob.glob("ext/core/*.h") + glob.glob("ext/python/*.h"),
)

setup(ext_modules=[core])
