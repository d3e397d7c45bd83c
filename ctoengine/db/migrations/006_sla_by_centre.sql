-- SLA intervals now carry the centre (several centres may share one database,
-- and peers' figures are compared), and a per-centre roll-up over all queues.
-- Same definitions as 005 (docs/sla.md), except that overflowed calls are now
-- counted apart: offered here, answered (or not) by the peer, so they leave the
-- denominators of service_level and lost_share; the peer counts them.
-- Both grains come from one computation (grouping sets), so the definitions
-- are written once.
DROP VIEW sla_intervals;

CREATE VIEW sla_intervals_grouped AS
WITH q AS (
    SELECT date_bin('15 minutes', queued_at, TIMESTAMPTZ '2000-01-01') AS interval_start,
           centre, coalesce(queue, topic) AS queue, disposition, wait_seconds, talk_seconds, wrap_up_seconds
    FROM calls
    WHERE queued_at IS NOT NULL
), counted AS (
    SELECT interval_start,
           centre,
           queue,
           grouping(queue) = 1                                                         AS whole_centre,
           count(*)                                                                    AS offered,
           count(*) FILTER (WHERE disposition = 'answered')                            AS answered,
           count(*) FILTER (WHERE disposition = 'answered' AND wait_seconds <= 20)     AS answered_within_target,
           count(*) FILTER (WHERE disposition = 'abandoned')                           AS abandoned,
           count(*) FILTER (WHERE disposition = 'abandoned' AND wait_seconds < 5)      AS short_abandoned,
           count(*) FILTER (WHERE disposition = 'overflowed')                          AS overflowed,
           round(avg(wait_seconds) FILTER (WHERE disposition = 'answered'), 3)         AS asa_seconds,
           round(avg(coalesce(talk_seconds, 0) + coalesce(wrap_up_seconds, 0))
                 FILTER (WHERE disposition = 'answered'), 3)                           AS aht_seconds,
           max(wait_seconds)                                                           AS longest_wait_seconds
    FROM q
    GROUP BY GROUPING SETS ((interval_start, centre, queue), (interval_start, centre))
)
SELECT *,
       round(answered_within_target::numeric
             / nullif(offered - short_abandoned - overflowed, 0), 4)                  AS service_level,
       round((abandoned - short_abandoned)::numeric
             / nullif(offered - short_abandoned - overflowed, 0), 4)                  AS lost_share
FROM counted;

-- Per 15 minutes, centre and queue.
CREATE VIEW sla_intervals AS
SELECT interval_start, centre, queue, offered, answered, answered_within_target, abandoned,
       short_abandoned, overflowed, asa_seconds, aht_seconds, longest_wait_seconds,
       service_level, lost_share
FROM sla_intervals_grouped
WHERE NOT whole_centre;

-- The whole centre: every queue together.
CREATE VIEW sla_intervals_centre AS
SELECT interval_start, centre, offered, answered, answered_within_target, abandoned,
       short_abandoned, overflowed, asa_seconds, aht_seconds, longest_wait_seconds,
       service_level, lost_share
FROM sla_intervals_grouped
WHERE whole_centre;
