/* Relay mode of the vessel client (relay.c): stands in for a process that runs in a microVM. */
#ifndef VESSEL_RELAY_H
#define VESSEL_RELAY_H

struct relay {
    const char *port_path;      /* QEMU's socket for the process's virtio-serial port */
    const char *console_socket; /* with a tty: where the engine wants the terminal's master end */
    int tty;
    int in, out, err;           /* set by relay_prepare */
};

/* Sets up stdio or, with a tty, a terminal whose master end goes to the console socket. */
int relay_prepare(struct relay *r);

/* Writes all of buf to fd, retrying on EINTR; -1 on error. */
int write_all(int fd, const void *buf, size_t n);

/* Copies until the process exits; returns its status (or 255 when the VM went away). */
int relay_run(struct relay *r);

#endif
