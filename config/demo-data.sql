-- Demo data of the demo profile: the application table knows 123456.
INSERT INTO applications (number, status, ready_date, service) VALUES
    ('123456', 'ready', '2026-12-01', 'passport'),
    ('222222', 'in_progress', NULL, 'egrul'),
    ('333333', 'rejected', NULL, 'social')
ON CONFLICT (number) DO NOTHING;
