/* mpi_stall.c - a process that joins an MPI job and then never takes part
 * in a collective (it sleeps), standing in for a rank that is stuck outside
 * MPI: test_mpi checks that the trainer ranks waiting for it end the job
 * with a message (the watchdog) instead of hanging. */
#include <mpi.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    sleep(600);
    MPI_Finalize();
    return 0;
}
