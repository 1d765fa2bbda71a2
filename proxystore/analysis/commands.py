"""Top-level analysis commands: analyze, report, import-results, export-results; each a few
lines of library."""

from __future__ import annotations

from typing import Any

from proxystore.formatting import FormatName


class AnalysisCommands:
    """Mixed into the root CLI: `proxystore analyze`, `report`, `import-results`,
    `export-results`."""

    def analyze(self, study: str, table: list[str] | None = None,
                format: FormatName = "table", boot: int = 1000,  # noqa: A002
                seed: int = 0, db: str | None = None) -> None:
        """Print a study's analysis tables, the summaries first and the APR matrix last.

        Tables, in this order: proxy_strategies, imagenet_x_summary, proxy_quality,
        imagenet_x_matches, best_config_recovery, epoch_order, depth_width_correlations,
        epoch_correlations, seed_noise, apr_correlations (those the study has). Every
        correlation gets a bootstrap 95 % interval (resampling candidates), shown as
        `0.820 [0.710, 0.900]` in the table format and as <col>_low/<col>_high columns in csv and
        json. Table 2's strategies get the cost-adjusted r2 (fitted over strategy rows); each
        selected table whose rows miss some candidates gets one warning line on stderr.

        Example:
            proxystore analyze demo --table proxy_quality,imagenet_x_matches
            proxystore analyze demo --table proxy_quality --format csv --boot 200

        Args:
            study: the study's name.
            table: tables to print, comma-separated or repeated (csv: exactly one).
            format: table, csv (one table, for pandas.read_csv) or json.
            boot: bootstrap resamples (0: estimates only).
            seed: seed of the resampling, so intervals are reproducible.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        import sys

        from proxystore.analysis.render import check_selection, render_analysis

        selected = check_selection(table, format)  # before the bootstrap's work
        from proxystore.analysis.analyzer import analyze, missing_warning

        result = analyze(db, str(study), n_boot=int(boot), seed=int(seed))
        for name in selected or list(result.tables):
            line = missing_warning(name, result.tables[name]) if name in result.tables else None
            if line:
                print(line, file=sys.stderr)
        print(render_analysis(result, format, selected))

    def report(self, study: str, out: str, boot: int = 1000, seed: int = 0,
               db: str | None = None) -> None:
        """Write a self-contained HTML report with the papers' tables and plots to OUT/index.html.

        A header names the study, spec fingerprint, proxystore version, database and date; one
        section per paper (Shleifer & Prokop: Table 2, Figures 2 and 4; Tuggener et al.: Table 3,
        Figures 3, 5, A8 and 7) comes before every `analyze` table.

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

    def export_results(self, file: str, study: str, db: str | None = None) -> None:
        """Write a study's finished runs to FILE (CSV) and its task roles to FILE.yaml beside it.

        The pair is exactly what `import-results` reads: one row per finished cell (candidate,
        task, seed, error, status done or diverged, top1_error, top5_error, best_error,
        gpu_seconds, cumulative_depth, cumulative_width) and, in FILE.yaml, every task's role,
        target, class and example counts, epochs, image size, metric and strategy, with the
        study's `analysis:` settings. Importing it elsewhere gives the same view rows (per-epoch
        errors stay behind). Pending and failed cells are left out, as the views leave them out.

        Example:
            proxystore export-results results.csv --study demo
            proxystore export-results fmnist_apr.csv --study fmnist_apr --db repro.db

        Args:
            file: the CSV to write (ends in .csv; its folder must exist).
            study: the study to export.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.analysis.exporter import export_results

        print(export_results(db, str(study), file).line())
