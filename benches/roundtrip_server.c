/* The lean server of `benches/roundtrip.rs`: a TCP uppercase server as a student
 * writes it in C, blocking reads and writes, one process per client (fork).
 *
 * Usage: roundtrip_server  (listens on a free 127.0.0.1 port and prints
 * "listening on 127.0.0.1:PORT"; ends on SIGTERM, its children on their client's EOF)
 *
 * Its cost per round trip is two system calls, so what the bench compares is the
 * clients, not the server. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Answers every line in uppercase; a line longer than the buffer is answered in parts. */
static void serve(int conn) {
    static char line[65536];
    size_t used = 0;
    char buf[4096];
    for (;;) {
        ssize_t n = read(conn, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) {
            line[used++] = (char)toupper((unsigned char)buf[i]);
            if (buf[i] == '\n' || used == sizeof line) {
                if (write_all(conn, line, used) < 0) return;
                used = 0;
            }
        }
    }
    if (used > 0) write_all(conn, line, used);
}

int main(void) {
    signal(SIGCHLD, SIG_IGN); /* the kernel reaps finished children */
    signal(SIGPIPE, SIG_IGN);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) { perror("socket"); return 1; }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("bind"); return 1; }
    if (listen(listener, 16) < 0) { perror("listen"); return 1; }
    if (getsockname(listener, (struct sockaddr *)&addr, &len) < 0) { perror("getsockname"); return 1; }
    printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    for (;;) {
        int conn = accept(listener, NULL, NULL);
        if (conn < 0) {
            if (errno == EINTR) continue;
            perror("accept");
            return 1;
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(listener);
            serve(conn);
            close(conn);
            _exit(0);
        }
        if (pid < 0) perror("fork");
        close(conn);
    }
}
