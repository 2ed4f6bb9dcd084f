"""The per-seed spread of a reproduced table: one panel per metric, each
row's per-seed values as dots and their mean +- standard deviation as a bar.

    python tools/analysis/plot_seeds.py WORK_DIR/results.json OUT.png

Reads the results.json of ``tools/reproduce.py``.
"""
import argparse
import json

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('results', help="tools/reproduce.py's results.json")
    parser.add_argument('out', help='output PNG')
    return parser.parse_args()


def plot_seed_spread(results: dict, out: str) -> None:
    """Draws ``results`` (a parsed results.json) to the PNG ``out``."""
    rows = results['rows']
    names = list(rows[0]['paper']['metrics']) if rows else []
    if not names or not any(r['measured']['per_seed'] for r in rows):
        raise ValueError('results.json holds no tested seeds yet')
    fig, axes = plt.subplots(1, len(names), squeeze=False,
                             figsize=(1.2 + 1.1 * len(rows) * len(names),
                                      3.2))
    for ax, name in zip(axes[0], names):
        for i, row in enumerate(rows):
            values = [v[name] for v in row['measured']['per_seed'].values()
                      if v.get(name) is not None]
            ax.scatter([i] * len(values), values, s=14, color='tab:blue',
                       zorder=3, label='a seed' if i == 0 else None)
            summary = row['measured']['metrics'].get(name)
            if summary is not None:
                ax.errorbar(i + 0.18, summary['mean'], yerr=summary['std'],
                            fmt='_', color='black', capsize=4, zorder=2,
                            label='mean ± std' if i == 0 else None)
        ax.set_xticks(range(len(rows)), [r['label'] for r in rows])
        ax.set_xlim(-0.5, len(rows) - 0.3)
        ax.set_ylabel(name)
        ax.grid(axis='y', lw=0.3)
        ax.legend(fontsize=7)
    seeds = ', '.join(map(str, results.get('seeds', [])))
    mini = results.get('mini')
    title = f'{results["table"]}: seeds {seeds}'
    if mini is not None:
        title += f' ({mini}-iteration CPU schedule)'
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main():
    args = parse_args()
    with open(args.results) as f:
        plot_seed_spread(json.load(f), args.out)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
