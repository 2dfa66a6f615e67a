# Generation and `imp eval` engines (fixtures: scripts/make_eval_fixtures.py).
if(IMP_WITH_OPENCV)
  imp_add_test(NAME imp_eval_tests LABELS parity SRCS
    eval/generate_test.cpp
  )
endif()
