/* clang-format off */
/* bench/anchors/mhd_server.c - reference program: the HTTP ceiling.
 *
 * libmicrohttpd answering every request with a small JSON 200 (epoll, a
 * pool of 2 threads), escrowd's HTTP library doing nothing else: what no
 * escrowd route can beat on the same machine. Copied unchanged below this
 * comment from the reference programs of issue 15 (perf-anchors, kept
 * beside the project by its team; its compare.sh is what bench/bench.py
 * follows), so that `make bench` measures it in the same run as escrowd.
 * Built by meson as a bench program, never installed; not escrowd's style.
 * usage: mhd_server PORT POOL */
// libmicrohttpd 0.9.75: INTERNAL_POLLING_THREAD | EPOLL, thread pool 2, per-request response w/ copied JSON body
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <stdlib.h>
static const char BODY[]="{\"ok\":true,\"order_id\":12345,\"state\":\"CANCEL_REQUESTED\",\"version\":7}";
static enum MHD_Result handler(void*cls,struct MHD_Connection*c,const char*url,const char*method,const char*ver,const char*up,size_t*upsz,void**con_cls){
  (void)cls;(void)url;(void)method;(void)ver;(void)up;(void)upsz;
  static int marker; if(*con_cls==NULL){*con_cls=&marker;return MHD_YES;} /* canonical 2-call pattern: queue on 2nd call, else MHD 0.9.75 closes the connection */
  struct MHD_Response*r=MHD_create_response_from_buffer(sizeof(BODY)-1,(void*)BODY,MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r,"Content-Type","application/json");
  enum MHD_Result ret=MHD_queue_response(c,MHD_HTTP_OK,r); MHD_destroy_response(r); return ret;}
int main(int argc,char**argv){
  int port=argc>1?atoi(argv[1]):18081; unsigned pool=argc>2?atoi(argv[2]):2;
  struct MHD_Daemon*d=MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD|MHD_USE_EPOLL,port,NULL,NULL,&handler,NULL,
     MHD_OPTION_THREAD_POOL_SIZE,pool,MHD_OPTION_CONNECTION_LIMIT,(unsigned)4096,MHD_OPTION_CONNECTION_TIMEOUT,(unsigned)30,
     MHD_OPTION_LISTENING_ADDRESS_REUSE,(unsigned)1,MHD_OPTION_END);
  if(!d){fprintf(stderr,"MHD start failed\n");return 1;}
  fprintf(stderr,"mhd listening on %d pool=%u\n",port,pool);
  sigset_t s;sigemptyset(&s);sigaddset(&s,SIGTERM);sigaddset(&s,SIGINT);sigprocmask(SIG_BLOCK,&s,NULL);int sig;sigwait(&s,&sig);
  MHD_stop_daemon(d);return 0;}
