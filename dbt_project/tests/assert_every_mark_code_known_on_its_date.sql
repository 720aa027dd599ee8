{#
  What: every current register mark (the winner of its key as known on D) must carry a code of
  the DfE code set in force on the mark's date (seed dfe_codes, valid_from..valid_to).
  Returns the offending marks. After an incremental build only the marks this run re-ranked
  are read (`written_this_run`): the rest were checked by the run that chose them, against
  the same seed (a changed seed changes the build fingerprint, and so rebuilds in full).
  When it matters: fct_pupil_session reads codes with an inner join, so a mark with a code the
  seed does not know would silently drop out of every measure.
  How to resolve: ingestion rejects such codes, so a failure means a gap between the seed and
  ingestion (or a local MIS code without a mapping). Add the code to the seed with its dates
  and category from domain/codes.md, or map it in the academy's configuration; never delete
  the mark.
#}
-- depends_on: {{ ref('int_build_plan') }}
-- depends_on: {{ ref('int_pupil_changes') }}
select marks.urn, marks.mark_date, marks.session, marks.code, marks.source_file, marks.source_row
from {{ ref('int_marks_current') }} as marks
{{ written_this_run('marks', 'mark_date', 'marks_from') }}
left join {{ ref('stg_dfe_codes') }} as codes
    on codes.code = marks.code
   and marks.mark_date between codes.valid_from and codes.valid_to
where codes.code is null
