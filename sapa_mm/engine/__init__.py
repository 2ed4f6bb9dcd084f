"""The harness behind ``tools/``: runner set-up and the clean end of
distributed runs (:mod:`.runner`), the short CPU schedules of the mini data
(:mod:`.mini_schedule`), the progress and CPU-thread hooks, safe loading of
mmengine checkpoints (:mod:`.checkpoint`, also imported by ``import
sapa_mm``) and the upstream warnings the tools leave out. Nothing in
:mod:`sapa_mm.ops` or :mod:`sapa_mm.models` imports it."""
