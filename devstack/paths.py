"""Where the stack keeps installed jars and its state."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / ".local"
KAFKA_JARS = LOCAL / "jars" / "kafka"
SPARK_JARS = LOCAL / "jars" / "spark"
KAFKA_LOG4J = ROOT / "infra" / "kafka" / "log4j2.yaml"
SAMPLE_DIR = ROOT / "data" / "sample"
VENV_BIN = Path(sys.executable).parent
