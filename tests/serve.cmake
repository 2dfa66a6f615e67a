# The serve area: the torch-free wire-format tests, the continuous-batching engine on a tiny model, and
# `imp serve` end to end with the official openai client, the 64-client load test and the chat page in headless
# chromium (Python, from the .venv-serve of scripts/setup.sh).
imp_add_test(NAME imp_serve_api_tests LABELS unit NO_TORCH LIBS imp_serve_api SRCS serve/openai_test.cpp
             serve/peer_watch_test.cpp)
if(IMP_WITH_OPENCV)
  target_compile_definitions(imp_serve_api_tests PRIVATE IMP_WITH_OPENCV=1)
  imp_add_test(NAME imp_chat_engine_tests LABELS integration SRCS serve/chat_engine_test.cpp)
endif()
if(IMP_WITH_SERVE AND IMP_WITH_OPENCV)
  set(IMP_SERVE_PYTHON "${PROJECT_SOURCE_DIR}/.venv-serve/bin/python" CACHE FILEPATH
      "Python with the openai package for the serve tests (scripts/setup.sh makes .venv-serve)")
  add_test(NAME serve.openai_client
           COMMAND ${IMP_SERVE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/serve/openai_client_test.py $<TARGET_FILE:imp>
                   ${CMAKE_CURRENT_SOURCE_DIR}/data/models/gen_phi2 ${CMAKE_CURRENT_SOURCE_DIR}/data/eval/images)
  add_test(NAME serve.load
           COMMAND ${IMP_SERVE_PYTHON} ${PROJECT_SOURCE_DIR}/bench/serve_load.py --imp $<TARGET_FILE:imp>
                   --model ${CMAKE_CURRENT_SOURCE_DIR}/data/models/gen_phi2
                   --image ${CMAKE_CURRENT_SOURCE_DIR}/data/eval/images/red.png
                   --clients 64 --requests 128 --max-tokens 16 --check)
  add_test(NAME serve.browser
           COMMAND ${IMP_SERVE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/serve/browser_test.py $<TARGET_FILE:imp>
                   ${CMAKE_CURRENT_SOURCE_DIR}/data/models/gen_phi2 ${CMAKE_CURRENT_SOURCE_DIR}/data/eval/images/red.png
                   ${CMAKE_CURRENT_BINARY_DIR}/serve_browser.png)
  add_test(NAME serve.chat_cli
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/serve/chat_cli_test.sh $<TARGET_FILE:imp>
                   ${CMAKE_CURRENT_SOURCE_DIR}/data/models/gen_phi2 ${CMAKE_CURRENT_SOURCE_DIR}/data/eval/images/red.png)
  set_tests_properties(serve.openai_client serve.load serve.browser serve.chat_cli PROPERTIES LABELS integration
                       TIMEOUT 300)
endif()
