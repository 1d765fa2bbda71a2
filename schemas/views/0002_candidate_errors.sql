-- One row per (study, candidate, task): means over the finished seeds.
-- gpu_seconds is the mean device seconds of one training (NULL when no seed recorded it).
CREATE VIEW candidate_errors AS
SELECT study,
       candidate,
       task,
       AVG(error) AS error,
       COUNT(*) AS n_seeds,
       AVG(gpu_seconds) AS gpu_seconds
FROM cell_errors
GROUP BY study, candidate, task
