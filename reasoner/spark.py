"""Kept for Spark users of earlier releases: `reasoner.spark` is now `reasoner.pipelines.spark`."""

from reasoner.pipelines.spark import *  # noqa: F401,F403
from reasoner.pipelines.spark import __all__  # noqa: F401
