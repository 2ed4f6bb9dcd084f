"""What the tools leave out of the terminal: upstream deprecation warnings
that a user of the configs cannot act on. Called by the tools, not on
import: a user's own scripts keep every warning."""
import warnings

#: (message start, module) of each warning left out: mmseg 1.2's, raised
#: while building the upstream configs' losses and data pipelines.
UPSTREAM_WARNINGS = (
    # mmseg's losses are built with its own deprecated helper.
    (r'``build_loss`` would be deprecated soon', r'mmseg\.'),
    # The upstream ADE20K configs keep CrossEntropyLoss's default.
    (r'Default ``avg_non_ignore`` is False', r'mmseg\.'),
    # The upstream ADE20K pipelines set reduce_zero_label in
    # LoadAnnotations, as the datasets expect.
    (r'`reduce_zero_label` will be deprecated', r'mmseg\.'),
)


def quiet_upstream_warnings() -> None:
    """Ignores exactly :data:`UPSTREAM_WARNINGS` (those messages, raised from
    those modules) in this process and the processes it forks."""
    for message, module in UPSTREAM_WARNINGS:
        warnings.filterwarnings('ignore', message=message, module=module)
