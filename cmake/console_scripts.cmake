# Installs a launcher in lib/${PROJECT_NAME}/ for every console script of the pose3d_ros library
# declared in setup.py (lines of the form  'name = pose3d_ros.module:function',), so that
# `ros2 run` finds the same executables that `pip install` creates. setup.py stays the one list
# of executables; training commands (module training.*) are not part of the ROS install. Each
# launcher runs the interpreter that CMake found (the one colcon's build used, with the
# dependencies: /usr/bin/python3 on a ROS install, or an activated virtual environment's), not
# whichever `python3` comes first on the PATH at run time.
find_package(Python3 REQUIRED COMPONENTS Interpreter)

function(pose3d_ros_install_console_scripts setup_py)
  file(STRINGS "${setup_py}" lines REGEX "^[ \t]*['\"][A-Za-z0-9_-]+ *= *pose3d_ros[A-Za-z0-9_.]*:[A-Za-z0-9_]+['\"]")
  if(NOT lines)
    message(FATAL_ERROR "no console scripts found in ${setup_py}")
  endif()
  foreach(line ${lines})
    string(REGEX MATCH "([A-Za-z0-9_-]+) *= *([A-Za-z0-9_.]+):([A-Za-z0-9_]+)" _ "${line}")
    set(launcher "${CMAKE_CURRENT_BINARY_DIR}/console_scripts/${CMAKE_MATCH_1}")
    file(WRITE "${launcher}"
      "#!${Python3_EXECUTABLE}\nimport sys\nfrom ${CMAKE_MATCH_2} import ${CMAKE_MATCH_3}\nsys.exit(${CMAKE_MATCH_3}())\n")
    install(PROGRAMS "${launcher}" DESTINATION lib/${PROJECT_NAME})
  endforeach()
endfunction()
