# `cmake --install` puts the pure-Python package `gptq` into <prefix>/GPTQ_PYTHON_INSTALL_DIR
# with a generated note of where libgptq lies relative to it, so `import gptq` from that
# site-packages loads the library installed alongside, whatever the prefix.
find_package(Python3 COMPONENTS Interpreter QUIET)
if(NOT Python3_Interpreter_FOUND)
  message(STATUS "No Python 3: the Python binding is not installed")
  return()
endif()
# The posix_prefix layout, which `pip install --prefix` and a venv use.
set(GPTQ_PYTHON_INSTALL_DIR
  "lib/python${Python3_VERSION_MAJOR}.${Python3_VERSION_MINOR}/site-packages"
  CACHE STRING "Where the Python package goes, relative to the install prefix")

file(RELATIVE_PATH _libdir_from_package
  /prefix/${GPTQ_PYTHON_INSTALL_DIR}/gptq /prefix/${CMAKE_INSTALL_LIBDIR})
file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/python/_install_location.py CONTENT
  "# Written by `cmake --install`: libgptq's directory relative to this package.\nLIBDIR_FROM_PACKAGE = \"${_libdir_from_package}\"\n")

install(DIRECTORY ${CMAKE_CURRENT_LIST_DIR}/src/gptq DESTINATION ${GPTQ_PYTHON_INSTALL_DIR}
  PATTERN __pycache__ EXCLUDE)
install(FILES ${PROJECT_BINARY_DIR}/python/_install_location.py
  DESTINATION ${GPTQ_PYTHON_INSTALL_DIR}/gptq)
