"""Analysis over the SQL views: correlations, confidence intervals, reports."""
