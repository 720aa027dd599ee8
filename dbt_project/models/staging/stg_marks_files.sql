-- The marks parquet files present when this build began, with their size and modification
-- time: the one listing of the folder a build makes. The two models that follow the files
-- (stg_mark_versions, int_marks_current: macros/marks_current.sql, new_files_plan) compare
-- what they recorded with this table instead of listing ~10,000 files themselves, three
-- times each (model, pre-hook, post-hook), which cost about a second of every daily build
-- before anything was computed; and both now see the same set of files.
-- Ordered by name: stored in the folder's order (no `order by`), DuckDB 2.0 read every
-- file's content as well (0.7 s against 0.15 s at M, measured).
-- Names relative to the marks folder (macros/marks_current.sql, marks_relative).
select {{ marks_relative('filename') }} as filename, size, last_modified
from read_blob('{{ marks_glob() }}')
order by filename
