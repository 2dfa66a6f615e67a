# Generation and `imp eval` engines (fixtures and goldens: scripts/make_eval_fixtures.py).
if(IMP_WITH_OPENCV)
  imp_add_test(NAME imp_eval_tests LABELS parity SRCS
    eval/generate_test.cpp
    eval/engine_test.cpp
  )
  imp_add_test(NAME imp_eval_cli_tests LABELS integration SRCS
    eval/eval_cli_test.cpp
  )
  add_dependencies(imp_eval_cli_tests imp)
endif()
