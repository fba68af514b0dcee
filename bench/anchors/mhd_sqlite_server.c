/* clang-format off */
/* bench/anchors/mhd_sqlite_server.c - reference program: the naive daemon.
 *
 * libmicrohttpd + SQLite (WAL, synchronous as given), one durable
 * transaction per request of escrowd's write shape (update an order, an
 * event row, two ledger rows, replace a deadline), the connection
 * serialized by a mutex: what a first C implementation would do. Copied
 * unchanged below this comment from the reference programs of issue 15
 * (perf-anchors, kept beside the project by its team), so that `make
 * bench` can measure it in the same run as escrowd (ESC_BENCH_NAIVE=1).
 * Built by meson as a bench program, never installed; not escrowd's style.
 * usage: mhd_sqlite_server DB SYNC PORT   (SYNC: FULL for durable) */
// Reference daemon (naive): libmicrohttpd (pool 2, epoll) + SQLite WAL, one durable order transaction per HTTP request,
// single shared connection serialized by a mutex (SQLite has one writer anyway). usage: mhd_sqlite_server DB SYNC PORT
#include <microhttpd.h>
#include <sqlite3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#define NORDERS 100000
static sqlite3*db; static pthread_mutex_t mu=PTHREAD_MUTEX_INITIALIZER;
static sqlite3_stmt *sb,*sc,*up,*ev,*lg,*td,*ti; static long ops=0;
static void ex(const char*s){char*e=0;if(sqlite3_exec(db,s,0,0,&e)!=SQLITE_OK){fprintf(stderr,"SQL error %s: %s\n",s,e);exit(1);}}
static sqlite3_stmt*prep(const char*s){sqlite3_stmt*st;if(sqlite3_prepare_v3(db,s,-1,SQLITE_PREPARE_PERSISTENT,&st,0)!=SQLITE_OK){fprintf(stderr,"prep %s\n",sqlite3_errmsg(db));exit(1);}return st;}
static void step(sqlite3_stmt*st){int rc=sqlite3_step(st);if(rc!=SQLITE_DONE&&rc!=SQLITE_ROW){fprintf(stderr,"step: %s\n",sqlite3_errmsg(db));exit(1);}sqlite3_reset(st);}
static __thread unsigned long long rs; static unsigned long long xr(){if(!rs)rs=88172645463325252ULL^(unsigned long long)pthread_self();rs^=rs<<13;rs^=rs>>7;rs^=rs<<17;return rs;}
static const char*payload="{\"reason\":\"item_not_as_described\",\"note\":\"buyer requested cancellation within window\",\"refund_cents\":1999,\"evidence\":[\"img1\",\"img2\"]}";
static long do_txn(int oid){ pthread_mutex_lock(&mu); long ts=1700000000+ops++;
  step(sb);
  sqlite3_bind_text(up,1,"CANCEL_REQUESTED",-1,SQLITE_STATIC);sqlite3_bind_int64(up,2,ts);sqlite3_bind_int(up,3,oid);step(up);
  sqlite3_bind_int(ev,1,oid);sqlite3_bind_text(ev,2,"cancel_requested",-1,SQLITE_STATIC);sqlite3_bind_int64(ev,3,ts);sqlite3_bind_text(ev,4,payload,-1,SQLITE_STATIC);step(ev);
  long eid=sqlite3_last_insert_rowid(db);
  sqlite3_bind_int(lg,1,oid);sqlite3_bind_int64(lg,2,eid);sqlite3_bind_text(lg,3,"escrow",-1,SQLITE_STATIC);sqlite3_bind_int(lg,4,-1999);sqlite3_bind_int64(lg,5,ts);step(lg);
  sqlite3_bind_int(lg,1,oid);sqlite3_bind_int64(lg,2,eid);sqlite3_bind_text(lg,3,"buyer_refund",-1,SQLITE_STATIC);sqlite3_bind_int(lg,4,1999);sqlite3_bind_int64(lg,5,ts);step(lg);
  sqlite3_bind_int(td,1,oid);step(td);
  sqlite3_bind_int(ti,1,oid);sqlite3_bind_int64(ti,2,ts+259200);step(ti);
  step(sc); pthread_mutex_unlock(&mu); return eid;}
static enum MHD_Result handler(void*cls,struct MHD_Connection*c,const char*url,const char*method,const char*ver,const char*upd,size_t*upsz,void**con_cls){
  (void)cls;(void)url;(void)method;(void)ver;(void)upd;(void)upsz;
  static int marker; if(*con_cls==NULL){*con_cls=&marker;return MHD_YES;} /* canonical 2-call pattern: queue on 2nd call, else MHD 0.9.75 closes the connection */
  int oid=1+xr()%NORDERS; long eid=do_txn(oid); char body[160];
  int n=snprintf(body,sizeof body,"{\"ok\":true,\"order_id\":%d,\"event_id\":%ld,\"state\":\"CANCEL_REQUESTED\"}",oid,eid);
  struct MHD_Response*r=MHD_create_response_from_buffer(n,body,MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r,"Content-Type","application/json");
  enum MHD_Result ret=MHD_queue_response(c,MHD_HTTP_OK,r); MHD_destroy_response(r); return ret;}
int main(int argc,char**argv){ const char*path=argc>1?argv[1]:"ms.db"; const char*sync=argc>2?argv[2]:"FULL"; int port=argc>3?atoi(argv[3]):18086;
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
  struct MHD_Daemon*d=MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD|MHD_USE_EPOLL,port,NULL,NULL,&handler,NULL,
     MHD_OPTION_THREAD_POOL_SIZE,(unsigned)2,MHD_OPTION_CONNECTION_LIMIT,(unsigned)4096,MHD_OPTION_LISTENING_ADDRESS_REUSE,(unsigned)1,MHD_OPTION_END);
  if(!d)return 1; fprintf(stderr,"mhd+sqlite listening %d sync=%s\n",port,sync);
  sigset_t s;sigemptyset(&s);sigaddset(&s,SIGTERM);sigaddset(&s,SIGINT);sigprocmask(SIG_BLOCK,&s,NULL);int sig;sigwait(&s,&sig);
  MHD_stop_daemon(d); fprintf(stderr,"ops=%ld\n",ops); sqlite3_close_v2(db); return 0;}
