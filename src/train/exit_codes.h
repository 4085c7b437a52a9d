// exit_codes.h — the exit status of every tool (README: Exit codes).
//
//   0    ok                the tool did what was asked
//   1    runtime error     anything that went wrong while running (I/O, memory, data, a
//                          checkpoint that does not load)
//   2    usage error       what the user asked for is wrong (options, config files, an
//                          incompatible resume, a locked run directory): train::UsageError
//   3    non-finite stop   the loss, the embeddings or the weights became NaN/inf; nothing
//                          non-finite was saved
//   130  SIGINT, 143 SIGTERM: 128 + the signal (signals.h: stop_exit_code())
//   70   data-parallel job ended by src/dist: a peer rank died or is stuck, or MPI failed
//        (the MpiCommunicator's MPI_Abort status; mpirun may report its own non-zero code,
//        e.g. 137 when it saw a rank killed by SIGKILL, naming the rank)
#pragma once

namespace contra::train {

// Plain ints (not an enum): main() and the tools' bodies return them alongside other ints.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNonFinite = 3;
inline constexpr int kExitDistributed = 70;  // set by dist/mpi_communicator.cpp's MPI_Abort

// A command-line parse: --help (CLI11 returns 0) is a success, anything else a usage error.
constexpr int exit_code_for_parse(int cli11_code) { return cli11_code == 0 ? kExitOk : kExitUsage; }

// 128 + signal, the shell's convention: 130 for SIGINT, 143 for SIGTERM.
constexpr int exit_code_for_signal(int signal_number) { return 128 + signal_number; }

}  // namespace contra::train
