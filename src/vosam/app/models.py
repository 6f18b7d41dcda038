"""The loaded models, shared by every browser session and built on first use."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from vosam.app.config import AppConfig
from vosam.engines import Propagator, build_propagator
from vosam.errors import InputError
from vosam.refine import PromptableSegmenter, build_segmenter

log = logging.getLogger(__name__)


class Models:
    """The propagation engine and the promptable segmenter named in the config.

    Either can be given ready-made (tests, or a caller that already holds one). Building
    happens once, on the first request that needs it, so the page opens at once.
    """

    def __init__(
        self,
        config: AppConfig,
        *,
        propagator: Propagator | None = None,
        segmenter: PromptableSegmenter | None = None,
    ) -> None:
        self.config = config
        self._propagator = propagator
        self._segmenter = segmenter
        self._lock = threading.Lock()

    @property
    def propagator(self) -> Propagator:
        with self._lock:
            if self._propagator is None:
                log.info("building the %s engine", self.config.engine)
                try:
                    self._propagator = build_propagator(
                        self.config.engine,
                        device=self.config.device,
                        **_weights(self.config.checkpoint),
                    )
                except (ValueError, ImportError, OSError) as e:
                    raise InputError(
                        None, f"cannot build the {self.config.engine} engine: {e}"
                    ) from e
            return self._propagator

    @property
    def segmenter(self) -> PromptableSegmenter:
        with self._lock:
            if self._segmenter is None:
                log.info("building the %s segmenter", self.config.segmenter)
                try:
                    self._segmenter = build_segmenter(
                        self.config.segmenter,
                        device=self.config.device,
                        **_weights(self.config.segmenter_checkpoint),
                    )
                except (ValueError, ImportError, OSError) as e:
                    raise InputError(
                        None, f"cannot build the {self.config.segmenter} segmenter: {e}"
                    ) from e
            return self._segmenter


def _weights(checkpoint: Path | None) -> dict[str, Path]:
    """The builder's ``checkpoint`` argument, only when there is one (builders of models
    whose weights ship with vosam take none)."""
    return {} if checkpoint is None else {"checkpoint": checkpoint}
