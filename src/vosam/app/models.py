"""The loaded models, shared by every browser session and built on first use."""

from __future__ import annotations

import logging
import threading

from vosam.app.config import AppConfig
from vosam.engines import Propagator
from vosam.errors import InputError
from vosam.refine import PromptableSegmenter
from vosam.spec import EngineSpec, RefinerSpec

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
                    checkpoint = _path(self.config.checkpoint)
                    spec = EngineSpec(
                        self.config.engine, checkpoint=checkpoint, model=self.config.model
                    )
                    self._propagator = spec.build(self.config.device)
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
                    checkpoint = _path(self.config.segmenter_checkpoint)
                    spec = RefinerSpec(
                        self.config.segmenter,
                        checkpoint=checkpoint,
                        weights=self.config.segmenter_weights,
                    )
                    self._segmenter = spec.build_segmenter(self.config.device)
                except (ValueError, ImportError, OSError) as e:
                    raise InputError(
                        None, f"cannot build the {self.config.segmenter} segmenter: {e}"
                    ) from e
            return self._segmenter


def _path(checkpoint: object) -> str | None:
    return None if checkpoint is None else str(checkpoint)
