"""Java and the Apache Kafka jars, resolved by Maven from ``infra/kafka/pom.xml``.

Resolution runs once: ``libs/.pom-sha256`` remembers which pom the jars came
from, so editing the pom re-resolves. A file lock keeps two stacks starting at
the same time from resolving into the same folder together.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from infra.stack.errors import StackError

KAFKA_DIR = Path(__file__).resolve().parent.parent / "kafka"
POM = KAFKA_DIR / "pom.xml"
LIBS = KAFKA_DIR / "libs"
MIN_JAVA = 17
_MARKER = ".pom-sha256"


def find_java() -> str:
    """Path of a Java 17+ executable (``$JAVA_HOME/bin/java`` first, then PATH)."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = str(Path(java_home) / "bin" / "java") if java_home else None
    java = candidate if candidate and os.access(candidate, os.X_OK) else shutil.which("java")
    hint = "install a JDK (apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
    if java is None:
        raise StackError(f"Java {MIN_JAVA}+ not found: {hint}")
    version = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version)
    if match is None:
        raise StackError(f"could not read the Java version of {java} ({version.strip()!r}): {hint}")
    major = int(match.group(2)) if match.group(1) == "1" else int(match.group(1))
    if major < MIN_JAVA:
        raise StackError(f"Java {MIN_JAVA}+ needed for Kafka, but {java} is Java {major}: {hint}")
    return java


def jars_resolved(libs: Path = LIBS, pom: Path = POM) -> bool:
    marker = libs / _MARKER
    return marker.exists() and marker.read_text().strip() == _sha256(pom)


def resolve_kafka_jars(libs: Path = LIBS, pom: Path = POM) -> Path:
    """Make sure ``libs`` holds the jars of ``pom``; returns ``libs``.

    Raises StackError when Maven is missing or the resolution fails (for
    example when Maven Central cannot be reached).
    """
    if jars_resolved(libs, pom):
        return libs
    libs.mkdir(parents=True, exist_ok=True)
    with (libs / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if jars_resolved(libs, pom):  # another process resolved while we waited
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise StackError("Maven (mvn) not found: install it (apt-get install maven) to fetch Kafka")
        for old_jar in libs.glob("*.jar"):
            old_jar.unlink()
        argv = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies", f"-DoutputDirectory={libs}"]
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()[-20:]
            raise StackError("Maven could not resolve the Kafka jars:\n" + "\n".join(output))
        (libs / _MARKER).write_text(_sha256(pom) + "\n")
    return libs


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
