"""Data pipelines: `batch` (a file or folder of requests, streamed, parallel, resumable) and `spark`
(a DataFrame of requests in, determinations out)."""
