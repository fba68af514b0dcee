/* clang-format off */
/* bench/anchors/mhd_sqlite_group.c - reference program: group commit.
 *
 * The naive daemon's work (mhd_sqlite_server.c) with connections suspended
 * while one writer thread commits everything queued as one durable
 * transaction, then resumes them: the simple group-commit design that
 * issue 15 asks escrowd to beat three times over. Copied unchanged below
 * this comment from the reference programs of issue 15 (perf-anchors, kept
 * beside the project by its team), so that `make bench` measures it in the
 * same run as escrowd. Built by meson as a bench program, never installed;
 * not escrowd's style.
 * usage: mhd_sqlite_group DB SYNC PORT   (SYNC: FULL for durable) */
// Reference daemon (group commit): the naive reference mhd_sqlite_server.c with one change. Same schema, prefill, per-request statements,
// WAL, PRAGMA synchronous=SYNC and JSON reply, but the libmicrohttpd handler (epoll, pool POOL=2 from env, 4096 conns)
// never touches SQLite: it suspends the connection and queues the request; one writer thread takes everything queued
// (up to CAP), runs it as ONE durable transaction (BEGIN IMMEDIATE ... COMMIT), then resumes each connection, whose
// handler is called again and queues the reply. SIGTERM/SIGINT: drain, stop, print ops/commits/mean batch.
// usage: mhd_sqlite_group DB SYNC PORT   build: gcc -O2 -Wall -o mhd_sqlite_group mhd_sqlite_group.c -lmicrohttpd -lsqlite3 -lpthread
#include <microhttpd.h>
#include <sqlite3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#define NORDERS 100000
#define CAP 1024
static sqlite3*db; static sqlite3_stmt *sb,*sc,*up,*ev,*lg,*td,*ti; static long ops=0,commits=0;
static void ex(const char*s){char*e=0;if(sqlite3_exec(db,s,0,0,&e)!=SQLITE_OK){fprintf(stderr,"SQL error %s: %s\n",s,e);exit(1);}}
static sqlite3_stmt*prep(const char*s){sqlite3_stmt*st;if(sqlite3_prepare_v3(db,s,-1,SQLITE_PREPARE_PERSISTENT,&st,0)!=SQLITE_OK){fprintf(stderr,"prep %s\n",sqlite3_errmsg(db));exit(1);}return st;}
static void step(sqlite3_stmt*st){int rc=sqlite3_step(st);if(rc!=SQLITE_DONE&&rc!=SQLITE_ROW){fprintf(stderr,"step: %s\n",sqlite3_errmsg(db));exit(1);}sqlite3_reset(st);}
static __thread unsigned long long rs; static unsigned long long xr(){if(!rs)rs=88172645463325252ULL^(unsigned long long)pthread_self();rs^=rs<<13;rs^=rs>>7;rs^=rs<<17;return rs;}
static const char*payload="{\"reason\":\"item_not_as_described\",\"note\":\"buyer requested cancellation within window\",\"refund_cents\":1999,\"evidence\":[\"img1\",\"img2\"]}";

/* per-request state, kept in *con_cls; also the queue link */
struct req { struct MHD_Connection*c; struct req*next; int oid; struct MHD_Response*resp; };
static pthread_mutex_t qmu=PTHREAD_MUTEX_INITIALIZER; static pthread_cond_t qcv=PTHREAD_COND_INITIALIZER;
static struct req*qhead,*qtail; static int stopping=0;   /* all three guarded by qmu */

/* the statements of mhd_sqlite_server.c's do_txn, minus BEGIN/COMMIT (the writer wraps a whole batch) */
static long do_op(int oid){ long ts=1700000000+ops++;
  sqlite3_bind_text(up,1,"CANCEL_REQUESTED",-1,SQLITE_STATIC);sqlite3_bind_int64(up,2,ts);sqlite3_bind_int(up,3,oid);step(up);
  sqlite3_bind_int(ev,1,oid);sqlite3_bind_text(ev,2,"cancel_requested",-1,SQLITE_STATIC);sqlite3_bind_int64(ev,3,ts);sqlite3_bind_text(ev,4,payload,-1,SQLITE_STATIC);step(ev);
  long eid=sqlite3_last_insert_rowid(db);
  sqlite3_bind_int(lg,1,oid);sqlite3_bind_int64(lg,2,eid);sqlite3_bind_text(lg,3,"escrow",-1,SQLITE_STATIC);sqlite3_bind_int(lg,4,-1999);sqlite3_bind_int64(lg,5,ts);step(lg);
  sqlite3_bind_int(lg,1,oid);sqlite3_bind_int64(lg,2,eid);sqlite3_bind_text(lg,3,"buyer_refund",-1,SQLITE_STATIC);sqlite3_bind_int(lg,4,1999);sqlite3_bind_int64(lg,5,ts);step(lg);
  sqlite3_bind_int(td,1,oid);step(td);
  sqlite3_bind_int(ti,1,oid);sqlite3_bind_int64(ti,2,ts+259200);step(ti);
  return eid;}

/* the only thread that touches SQLite after startup */
static void*writer(void*arg){ (void)arg; struct req*b[CAP]; long eid[CAP];
  for(;;){ int n=0;
    pthread_mutex_lock(&qmu);
    while(!qhead&&!stopping) pthread_cond_wait(&qcv,&qmu);
    while(qhead&&n<CAP){ b[n++]=qhead; qhead=qhead->next; } if(!qhead) qtail=NULL;
    pthread_mutex_unlock(&qmu);
    if(n==0) break;                                   /* stopping and queue drained */
    step(sb); for(int i=0;i<n;i++) eid[i]=do_op(b[i]->oid); step(sc); commits++;   /* durable here (FULL) */
    for(int i=0;i<n;i++){ char body[160];
      int len=snprintf(body,sizeof body,"{\"ok\":true,\"order_id\":%d,\"event_id\":%ld,\"state\":\"CANCEL_REQUESTED\"}",b[i]->oid,eid[i]);
      b[i]->resp=MHD_create_response_from_buffer(len,body,MHD_RESPMEM_MUST_COPY);
      MHD_add_response_header(b[i]->resp,"Content-Type","application/json");
      MHD_resume_connection(b[i]->c); }               /* b[i] may be freed by MHD from here on: don't touch it */
  }
  return NULL;}

static enum MHD_Result handler(void*cls,struct MHD_Connection*c,const char*url,const char*method,const char*ver,const char*upd,size_t*upsz,void**con_cls){
  (void)cls;(void)url;(void)method;(void)ver;(void)upd;(void)upsz;
  struct req*r=*con_cls;
  if(!r){ r=calloc(1,sizeof *r); if(!r) return MHD_NO; *con_cls=r; return MHD_YES; }   /* 1st call: headers only */
  if(r->resp){                                      /* 3rd call, after MHD_resume_connection: reply */
    enum MHD_Result ret=MHD_queue_response(c,MHD_HTTP_OK,r->resp); MHD_destroy_response(r->resp); r->resp=NULL; return ret; }
  r->c=c; r->oid=1+xr()%NORDERS;                    /* 2nd call: request complete -> suspend + enqueue */
  pthread_mutex_lock(&qmu);
  if(stopping){ pthread_mutex_unlock(&qmu);         /* writer gone: refuse rather than suspend forever */
    static const char busy[]="{\"ok\":false,\"error\":\"shutting down\"}";
    struct MHD_Response*resp=MHD_create_response_from_buffer(sizeof busy-1,(void*)busy,MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret=MHD_queue_response(c,MHD_HTTP_SERVICE_UNAVAILABLE,resp); MHD_destroy_response(resp); return ret; }
  MHD_suspend_connection(c);                        /* before the writer can see r, so resume always follows suspend */
  r->next=NULL; if(qtail) qtail->next=r; else qhead=r; qtail=r;
  pthread_cond_signal(&qcv); pthread_mutex_unlock(&qmu);
  return MHD_YES;}

static void completed(void*cls,struct MHD_Connection*c,void**con_cls,enum MHD_RequestTerminationCode toe){
  (void)cls;(void)c;(void)toe; struct req*r=*con_cls;
  if(r){ if(r->resp) MHD_destroy_response(r->resp); free(r); *con_cls=NULL; }}

int main(int argc,char**argv){ const char*path=argc>1?argv[1]:"ms.db"; const char*sync=argc>2?argv[2]:"FULL"; int port=argc>3?atoi(argv[3]):18087;
  unsigned pool=getenv("POOL")?(unsigned)atoi(getenv("POOL")):2;
  char b[512]; unlink(path); snprintf(b,sizeof b,"%s-wal",path);unlink(b); snprintf(b,sizeof b,"%s-shm",path);unlink(b);
  if(sqlite3_open(path,&db))return 1;
  ex("PRAGMA journal_mode=WAL"); ex("PRAGMA cache_size=-65536");
  ex("CREATE TABLE orders(id INTEGER PRIMARY KEY, buyer_id INTEGER NOT NULL, seller_id INTEGER NOT NULL, state TEXT NOT NULL, amount_cents INTEGER NOT NULL, currency TEXT NOT NULL, version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, meta TEXT)");
  ex("CREATE TABLE events(id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL, ts INTEGER NOT NULL, payload TEXT)");
  ex("CREATE INDEX events_order ON events(order_id)");
  ex("CREATE TABLE ledger(id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, event_id INTEGER NOT NULL, account TEXT NOT NULL, amount_cents INTEGER NOT NULL, ts INTEGER NOT NULL)");
  ex("CREATE INDEX ledger_order ON ledger(order_id)");
  ex("CREATE TABLE timers(id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, kind TEXT NOT NULL, due_at INTEGER NOT NULL)");
  ex("CREATE INDEX timers_due ON timers(due_at)"); ex("CREATE UNIQUE INDEX timers_order ON timers(order_id, kind)");
  ex("BEGIN");
  sqlite3_stmt*ins=prep("INSERT INTO orders VALUES(?,?,?,'PAID',?,'EUR',1,1700000000,1700000000,'{\"sku\":\"ABC-123\",\"qty\":1,\"ship\":\"standard\"}')");
  sqlite3_stmt*tins=prep("INSERT INTO timers(order_id,kind,due_at) VALUES(?,'auto_complete',?)");
  for(int i=1;i<=NORDERS;i++){sqlite3_bind_int(ins,1,i);sqlite3_bind_int(ins,2,xr()%50000);sqlite3_bind_int(ins,3,xr()%5000);sqlite3_bind_int(ins,4,1000+xr()%100000);step(ins);
    sqlite3_bind_int(tins,1,i);sqlite3_bind_int64(tins,2,1700000000+xr()%1000000);step(tins);}
  ex("COMMIT"); ex("PRAGMA wal_checkpoint(TRUNCATE)");
  snprintf(b,sizeof b,"PRAGMA synchronous=%s",sync); ex(b);
  sb=prep("BEGIN IMMEDIATE");sc=prep("COMMIT");
  up=prep("UPDATE orders SET state=?, version=version+1, updated_at=? WHERE id=?");
  ev=prep("INSERT INTO events(order_id,kind,actor,ts,payload) VALUES(?,?,'buyer:42',?,?)");
  lg=prep("INSERT INTO ledger(order_id,event_id,account,amount_cents,ts) VALUES(?,?,?,?,?)");
  td=prep("DELETE FROM timers WHERE order_id=? AND kind='auto_complete'");
  ti=prep("INSERT INTO timers(order_id,kind,due_at) VALUES(?,'auto_complete',?)");
  /* block the signals before any thread exists, so only sigwait() below sees them */
  sigset_t s;sigemptyset(&s);sigaddset(&s,SIGTERM);sigaddset(&s,SIGINT);pthread_sigmask(SIG_BLOCK,&s,NULL);
  pthread_t wt; if(pthread_create(&wt,NULL,writer,NULL))return 1;
  struct MHD_Daemon*d=MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD|MHD_USE_EPOLL|MHD_ALLOW_SUSPEND_RESUME,port,NULL,NULL,&handler,NULL,
     MHD_OPTION_THREAD_POOL_SIZE,pool,MHD_OPTION_CONNECTION_LIMIT,(unsigned)4096,MHD_OPTION_LISTENING_ADDRESS_REUSE,(unsigned)1,
     MHD_OPTION_NOTIFY_COMPLETED,&completed,NULL,MHD_OPTION_END);
  if(!d){fprintf(stderr,"MHD_start_daemon failed on port %d\n",port);return 1;}
  fprintf(stderr,"mhd+sqlite group-commit listening %d sync=%s pool=%u\n",port,sync,pool);
  int sig;sigwait(&s,&sig);
  /* shutdown: MHD_stop_daemon panics on still-suspended connections, so let the writer drain and resume them first */
  pthread_mutex_lock(&qmu); stopping=1; pthread_cond_signal(&qcv); pthread_mutex_unlock(&qmu);
  pthread_join(wt,NULL);
  MHD_stop_daemon(d);
  fprintf(stderr,"ops=%ld commits=%ld mean_batch=%.2f\n",ops,commits,commits?(double)ops/commits:0.0);
  sqlite3_close_v2(db); return 0;}
