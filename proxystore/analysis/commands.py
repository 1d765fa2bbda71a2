"""Top-level analysis commands: analyze, report, import-results; each a few lines of library."""

from __future__ import annotations

from typing import Any

from proxystore.formatting import FormatName


class AnalysisCommands:
    """Mixed into the root CLI: `proxystore analyze`, `report`, `import-results`."""

    def analyze(self, study: str, format: FormatName = "table", boot: int = 1000,  # noqa: A002
                seed: int = 0, db: str | None = None) -> None:
        """Print a study's APR, ImageNet-X, depth/width, proxy, epoch and seed-noise tables.

        Every correlation gets a bootstrap 95 % interval (resampling candidates). Table 2's
        strategies (proxy_strategies) get the cost-adjusted r2 (residual against a cubic in
        relative cost); tables with rows that miss candidates get a warning line on stderr.

        Example:
            proxystore analyze demo --format csv --boot 200

        Args:
            study: the study's name.
            format: table, csv or json.
            boot: bootstrap resamples (0: estimates only).
            seed: seed of the resampling, so intervals are reproducible.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        import sys

        from proxystore.analysis.analyzer import analyze, missing_warnings, render_analysis

        result = analyze(db, str(study), n_boot=int(boot), seed=int(seed))
        for line in missing_warnings(result):
            print(line, file=sys.stderr)
        print(render_analysis(result, format))

    def report(self, study: str, out: str, boot: int = 1000, seed: int = 0,
               db: str | None = None) -> None:
        """Write a self-contained HTML report with the papers' plots to OUT/index.html.

        Example:
            proxystore report demo --out report

        Args:
            study: the study's name.
            out: the output directory (created if missing).
            boot: bootstrap resamples for the tables' intervals.
            seed: seed of the resampling.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.analysis.report import write_report
        from proxystore.tracking import log_report

        print(path := write_report(db, str(study), out, n_boot=int(boot), seed=int(seed)))
        log_report(db, str(study), path)  # and to MLflow (one line if it is away)

    def import_results(self, file: str, study: str, spec: str | None = None, roles: Any = None,
                       db: str | None = None) -> None:
        """Import results trained elsewhere (CSV) as finished runs of a study, marked imported.

        Columns candidate, task, seed, error are required; top1_error, top5_error, gpu_seconds,
        epochs, task_num_classes, cumulative_depth, cumulative_width and status (done or
        diverged; a diverged row leaves error empty) are optional. Importing the same file again
        changes nothing. Roles example: --roles '{"imagenet": "reference",
        "cifar10": "target", "cifar10-half": {"role": "proxy", "proxy_of": "cifar10"}}'.

        Example:
            proxystore import-results results.csv --study paper --roles roles.yaml

        Args:
            file: the results CSV.
            study: the study to add them to (created if new).
            spec: a study spec YAML whose `tasks` give roles; stored as the study's spec.
            roles: label -> role (or attribute mapping), JSON or a YAML file; default FILE.yaml.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.analysis.importer import import_results

        print(import_results(db, file, str(study), roles=roles, spec=spec).line())
