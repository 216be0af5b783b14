/*
 * idle: what N idle client connections cost a door server. A client
 * process opens the door and starts N threads; each makes one call (so
 * each has its own connection to the door) and then waits forever. The
 * server process reports its CPU time over 5 s, its resident memory and
 * its descriptor count. Usage: idle [N] (default 1000); `make -C bench idle`.
 */
#include <door.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <string.h>
#include <time.h>
static void proc_(void *c, char *a, size_t s, door_desc_t *d, uint_t n) { (void)c;(void)d;(void)n; door_return(a, s, NULL, 0); }
static int fd; static pthread_barrier_t bar;
static void *worker(void *arg) { (void)arg; long x=1,r; door_arg_t a={(char*)&x,8,0,0,(char*)&r,8}; if (door_call(fd,&a)<0) { perror("call"); exit(1);} pthread_barrier_wait(&bar); pause(); return 0; }
static long cpu_ticks(pid_t p){ char f[64]; snprintf(f,64,"/proc/%d/stat",p); FILE*F=fopen(f,"r"); long ut=0,st=0; char buf[4096]; if(!fgets(buf,sizeof buf,F)) return -1; fclose(F); char*q=strrchr(buf,')'); sscanf(q+2,"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld",&ut,&st); return ut+st; }
static long rss_kb(pid_t p){ char f[64]; snprintf(f,64,"/proc/%d/status",p); FILE*F=fopen(f,"r"); char l[256]; long v=0; while(fgets(l,256,F)) if(sscanf(l,"VmRSS: %ld",&v)==1) break; fclose(F); return v; }
static int nfds(pid_t p){ char c[128]; snprintf(c,128,"ls /proc/%d/fd | wc -l",p); FILE*P=popen(c,"r"); int n=0; if(fscanf(P,"%d",&n)!=1) n=-1; pclose(P); return n; }
int main(int argc,char**argv){ int N=argc>1?atoi(argv[1]):1000; setvbuf(stdout,0,_IONBF,0);
  char p[64]; snprintf(p,sizeof p,"/tmp/doorbench-idle.%d",(int)getpid()); close(open(p,O_CREAT|O_RDWR,0644)); fdetach(p);
  int d=door_create(proc_,0,0); fattach(d,p); pid_t server=getpid();
  printf("server before: rss %ld kB, %d fds\n", rss_kb(server), nfds(server));
  pid_t c=fork(); if(c==0){ fd=open(p,O_RDONLY); pthread_barrier_init(&bar,0,N+1); pthread_attr_t at; pthread_attr_init(&at); pthread_attr_setstacksize(&at,64*1024);
    for(int i=0;i<N;i++){pthread_t t; if(pthread_create(&t,&at,worker,0)){perror("pthread_create"); _exit(1);}} pthread_barrier_wait(&bar); pause(); _exit(0);}
  sleep(3);
  long t0=cpu_ticks(server); struct timespec ts={5,0}; nanosleep(&ts,0); long t1=cpu_ticks(server);
  printf("%d idle client connections: server CPU over 5 s: %ld ticks (%.2f%%), rss %ld kB, %d fds\n", N, t1-t0, (t1-t0)/5.0, rss_kb(server), nfds(server));
  kill(c,SIGKILL); waitpid(c,0,0); fdetach(p); unlink(p); return 0; }
