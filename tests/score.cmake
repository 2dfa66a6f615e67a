# Scorers and submission writers: torch-free unit tests and goldens from the official Python code
# (scripts/make_eval_score_fixtures.py -> tests/data/eval_score/).
imp_add_test(NAME imp_score_tests LABELS unit NO_TORCH LIBS imp_score SRCS
  score/text_test.cpp
  score/golden_test.cpp
  score/convert_test.cpp
)
# scripts/eval/*.sh with STAGE=score through the imp executable (skipped while imp has no `eval score`).
imp_add_test(NAME imp_score_script_tests LABELS integration NO_TORCH SRCS
  score/scripts_test.cpp
)
add_dependencies(imp_score_script_tests imp)
# scripts/eval/*.sh end to end (STAGE=all: `imp eval` on the CPU with the tiny model, then scoring) on
# playgrounds built from the fixtures; the questions have images, so imp needs the image pipeline.
if(IMP_WITH_OPENCV)
  imp_add_test(NAME imp_score_e2e_tests LABELS integration NO_TORCH LIBS imp_header_deps SRCS
    score/e2e_scripts_test.cpp
  )
  add_dependencies(imp_score_e2e_tests imp)
endif()
