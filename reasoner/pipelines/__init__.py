"""Data pipelines: `batch` (a file or folder of requests, streamed, parallel, resumable) and `spark`
(a DataFrame of requests in, determinations out). `records` reads INPUT (no line held beyond the
contract's limit), `rows` turns one record into one row whatever it holds, `output` guards OUTPUT
(lock, not INPUT, 0600, read back on resume): docs/pipelines-robustness.md."""
