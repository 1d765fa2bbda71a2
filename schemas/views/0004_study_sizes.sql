-- How many candidates each study declares: the denominator of every view's n_missing.
CREATE VIEW study_sizes AS
SELECT s.name AS study, COUNT(sc.label) AS n_candidates
FROM studies s
LEFT JOIN study_candidates sc ON sc.study_id = s.id
GROUP BY s.name
