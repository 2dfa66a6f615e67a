# Generation and the `imp eval` inference engines (the scorers are in eval/score).
target_sources(imp_lib PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/stopping.cpp
  ${CMAKE_CURRENT_LIST_DIR}/generate.cpp
  ${CMAKE_CURRENT_LIST_DIR}/session.cpp
  ${CMAKE_CURRENT_LIST_DIR}/questions.cpp
  ${CMAKE_CURRENT_LIST_DIR}/answers.cpp
  ${CMAKE_CURRENT_LIST_DIR}/engine.cpp
  ${CMAKE_CURRENT_LIST_DIR}/chat_engine.cpp
)
