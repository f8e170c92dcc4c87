# Builds workflows-list.json (NocoBase's REST answer to workflows:list?appends=nodes) and
# nocobase-workflows.sql (NocoBase's workflows and flow_nodes tables with the same rows).
# Run: python3 gen.py   (see README.md for the NocoBase sources each shape follows)
import json

W = []
NID = [300000000000100]

def wf(id, key, title, type, config, nodes, enabled=True, current=True, sync=False):
    W.append(dict(id=id, key=key, title=title, type=type, config=config, enabled=enabled, current=current, sync=sync,
                  executed=0, allExecuted=0, triggerTitle=None, description=None, options={}, nodes=nodes))

def node(wid, key, type, config, title=None, up=None, branch=None):
    NID[0] += 1
    return dict(id=NID[0], key=key, title=title or key, type=type, config=config, workflowId=wid,
                upstreamId=up['id'] if up else None, branchIndex=branch, downstreamId=None)

def link(*chain):
    """a -> b -> c: b.upstreamId = a.id (no branchIndex), a.downstreamId = b.id, as WorkflowModel.createNode does"""
    for a, b in zip(chain, chain[1:]):
        a['downstreamId'] = b['id']
        b['upstreamId'] = a['id']
        b['branchIndex'] = None
    return list(chain)

# 1. collection create on posts: condition (basic) without branches, create, calculation. Plus its previous version.
w = 1001
n1 = node(w, 'chk', 'condition', {'rejectOnFalse': True, 'engine': 'basic', 'calculation': {'group': {'type': 'and', 'calculations': [
    {'calculator': 'notEqual', 'operands': ['{{$context.data.status}}', 'draft']},
    {'calculator': 'gte', 'operands': ['{{$context.data.score}}', 10]}]}}}, 'Published and scored')
n2 = node(w, 'log', 'create', {'collection': 'post_logs', 'params': {'values': {'postId': '{{$context.data.id}}', 'note': 'created: {{$context.data.title}}'}}}, 'Log')
n3 = node(w, 'dbl', 'calculation', {'engine': 'math.js', 'expression': '{{$jobsMapByNodeKey.log.id}} * 2 + {{$context.data.score}} / 4'}, 'Double')
wf(w, 'wpostnew', 'Post created', 'collection', {'mode': 1, 'collection': 'posts', 'appends': []}, link(n1, n2, n3))
wf(1000, 'wpostnew', 'Post created (old version)', 'collection', {'mode': 1, 'collection': 'posts'},
   [node(1000, 'oldend', 'end', {'endStatus': 1})], enabled=False, current=False)

# 2. collection create|update on orders, changed status, condition filter; query (multiple, filter, sort), loop with update, request ignoreFail
w = 1002
q = node(w, 'q1', 'query', {'collection': 'main:order_lines', 'multiple': True, 'params': {
    'filter': {'$and': [{'orderId': {'$eq': '{{$context.data.id}}'}}, {'qty': {'$gt': 0}}, {'state': {'$in': ['open', 'held']}}]},
    'sort': [{'field': 'id', 'direction': 'asc'}], 'page': 1, 'pageSize': 50, 'appends': []}}, 'Lines')
lp = node(w, 'l1', 'loop', {'target': '{{$jobsMapByNodeKey.q1}}'}, 'Each line')
up = node(w, 'u1', 'update', {'collection': 'order_lines', 'params': {'filter': {'id': {'$eq': '{{$scopes.l1.item.id}}'}},
    'values': {'state': 'paid', 'position': '{{$scopes.l1.index}}'}}}, 'Mark line', up=lp, branch=0)
rq = node(w, 'r1', 'request', {'method': 'POST', 'url': 'https://erp.example.com/api/orders/{{$context.data.id}}/paid',
    'headers': [{'name': 'X-Source', 'value': 'nocobase'}, {'name': 'Content-Type', 'value': 'application/json'}],
    'params': [{'name': 'lines', 'value': '{{$jobsMapByNodeKey.q1.length}}'}], 'contentType': 'application/json',
    'data': {'order': '{{$context.data.id}}', 'total': '{{$context.data.total}}', 'tags': ['paid']}, 'timeout': 3000, 'ignoreFail': True}, 'Tell ERP')
st = node(w, 'st', 'calculation', {'engine': 'formula.js', 'expression': '{{$jobsMapByNodeKey.r1.status}} === 200'}, 'ERP ok')
wf(w, 'worderpaid', 'Order paid', 'collection', {'mode': 3, 'collection': 'orders', 'changed': ['status'],
    'condition': {'$and': [{'status': {'$eq': 'paid'}}, {'total': {'$gt': 0}}]}}, link(q, lp, rq, st) + [up])

# 3. static schedule, cron with startsOn, endsOn and limit; sql node with replacements
w = 1003
s1 = node(w, 's1', 'sql', {'dataSource': 'main', 'sql': "UPDATE orders SET status = 'expired' WHERE status = :status AND id > :minId",
    'variables': [{'name': 'status', 'value': 'pending'}, {'name': 'minId', 'value': 0}]}, 'Expire')
e1 = node(w, 'e1', 'end', {'endStatus': 1}, 'Done')
wf(w, 'wnightly', 'Nightly expiry', 'schedule', {'mode': 0, 'startsOn': '2026-01-01T02:00:00.000Z', 'endsOn': '2027-01-01T00:00:00.000Z',
    'repeat': '0 0 2 * * *', 'limit': 30}, link(s1, e1))

# 4. static schedule, repeat in ms; destroy with a filter; $context.date in a create
w = 1004
d1 = node(w, 'd1', 'destroy', {'collection': 'post_logs', 'params': {'filter': {'$or': [{'note': {'$includes': '50%_off'}}, {'note': {'$empty': True}}]}}}, 'Purge')
c1 = node(w, 'c1', 'create', {'collection': 'post_logs', 'params': {'values': {'note': 'purged at {{$context.date}}, {{$jobsMapByNodeKey.d1}} rows'}}}, 'Note')
wf(w, 'wpurge', 'Purge every 5 minutes', 'schedule', {'mode': 0, 'startsOn': '2026-01-01T00:00:00.000Z', 'repeat': 300000}, link(d1, c1))

# 5. static schedule, once at startsOn (no repeat); delay then end failed
w = 1005
dl = node(w, 'wait', 'delay', {'duration': 2, 'unit': 60000, 'endStatus': 1}, 'Two minutes')
ef = node(w, 'fail', 'end', {'endStatus': -1}, 'Fail on purpose')
wf(w, 'wonce', 'Once at launch', 'schedule', {'mode': 0, 'startsOn': '2031-06-01T09:30:00.000Z'}, link(dl, ef))

# 6. branches inside branches: condition (math.js) → true: parallel(all) [branch 0: condition(basic) with true/false branches;
#    branch 1: delay] ; false: end failed; then after the outer condition a calculation
w = 1006
c0 = node(w, 'big', 'condition', {'rejectOnFalse': False, 'engine': 'math.js', 'expression': '{{$context.data.score}} >= 100 and {{$context.data.status}} != "draft"'}, 'Big post?')
pa = node(w, 'fan', 'parallel', {'mode': 'all'}, 'Fan out', up=c0, branch=1)
ci = node(w, 'feat', 'condition', {'rejectOnFalse': False, 'engine': 'basic', 'calculation': {'group': {'type': 'or', 'calculations': [
    {'calculator': 'startsWith', 'operands': ['{{$context.data.title}}', 'Top']},
    {'group': {'type': 'and', 'calculations': [{'calculator': 'includes', 'operands': ['{{$context.data.title}}', 'best']},
                                               {'calculator': '>', 'operands': ['{{$context.data.score}}', 500]}]}}]}}}, 'Feature?', up=pa, branch=0)
yes = node(w, 'mark', 'update', {'collection': 'posts', 'params': {'filter': {'id': '{{$context.data.id}}'}, 'values': {'featured': True}}}, 'Feature it', up=ci, branch=1)
no = node(w, 'skip', 'create', {'collection': 'post_logs', 'params': {'values': {'postId': '{{$context.data.id}}', 'note': 'not featured'}}}, 'Log skip', up=ci, branch=0)
dw = node(w, 'cool', 'delay', {'duration': 30, 'unit': 1000, 'endStatus': 1}, 'Cool off', up=pa, branch=1)
bad = node(w, 'small', 'end', {'endStatus': -1}, 'Too small', up=c0, branch=0)
after = node(w, 'tally', 'calculation', {'engine': 'math.js', 'expression': '{{$context.data.score}} % 7'}, 'Tally')
link(c0, after)
wf(w, 'wbranches', 'Post updated: branches in branches', 'collection', {'mode': 2, 'collection': 'posts', 'changed': ['score', 'status']},
   [c0, pa, ci, yes, no, dw, bad, after])

# 7. custom action → request with a JSON body and params
w = 1007
r7 = node(w, 'notify', 'request', {'method': 'PUT', 'url': 'https://hooks.example.com/posts',
    'headers': [{'name': 'Authorization', 'value': 'Bearer {{$context.data.token}}'}], 'contentType': 'application/json',
    'data': {'id': '{{$context.data.id}}', 'by': '{{$context.user.nickname}}'}, 'onlyData': True}, 'Notify hook')
g7 = node(w, 'ok', 'condition', {'rejectOnFalse': True, 'engine': 'basic', 'calculation': {'calculator': 'equal', 'operands': ['{{$jobsMapByNodeKey.notify.accepted}}', True]}}, 'Accepted?')
wf(w, 'wcustom', 'Custom action: notify', 'custom-action', {'type': 1, 'collection': 'posts'}, link(r7, g7))

# 8. post action → formula.js calculation and update
w = 1008
k8 = node(w, 'net', 'calculation', {'engine': 'formula.js', 'expression': '({{$context.data.total}} - {{$context.data.discount}}) * 1.2'}, 'Gross')
u8 = node(w, 'setgross', 'update', {'collection': 'orders', 'params': {'filter': {'$and': [{'id': {'$eq': '{{$context.data.id}}'}}, {'status': {'$ne': 'void'}}]},
    'values': {'gross': '{{$jobsMapByNodeKey.net}}'}}}, 'Store gross')
wf(w, 'wpostaction', 'After submit: gross', 'action', {'collection': 'orders', 'global': True}, link(k8, u8))

# 9. schedule on a date field (offset 0, no repeat) → create a reminder
w = 1009
c9 = node(w, 'remind', 'create', {'collection': 'reminders', 'params': {'values': {'taskId': '{{$context.data.id}}', 'text': 'due: {{$context.data.title}}'}}}, 'Remind')
wf(w, 'wdue', 'Task due', 'schedule', {'mode': 1, 'collection': 'tasks', 'startsOn': {'field': 'dueAt', 'offset': 0}}, [c9])

# 10. a manual node: not importable
w = 1010
m1 = node(w, 'approve', 'manual', {'assignees': [1], 'mode': 0, 'schema': {}}, 'Approve')
m2 = node(w, 'after', 'end', {'endStatus': 1})
wf(w, 'wmanual', 'Manual approval', 'collection', {'mode': 1, 'collection': 'posts'}, link(m1, m2))

# 11. parallel race: not importable
w = 1011
p11 = node(w, 'race', 'parallel', {'mode': 'race'}, 'Race')
b11 = node(w, 'r0', 'end', {'endStatus': 1}, up=p11, branch=0)
b12 = node(w, 'r1x', 'end', {'endStatus': 1}, up=p11, branch=1)
wf(w, 'wrace', 'Race', 'collection', {'mode': 1, 'collection': 'posts'}, [p11, b11, b12])

# 12. a math.js function: not importable
w = 1012
f12 = node(w, 'rounded', 'calculation', {'engine': 'math.js', 'expression': 'round({{$context.data.total}} * 1.2, 2)'}, 'Round')
wf(w, 'wround', 'Rounded total', 'collection', {'mode': 1, 'collection': 'orders'}, [f12])

# 13. a camelCase collection and changed field (quoted in the trigger: "orderItems", "productName"), disabled in NocoBase
w = 1013
e13 = node(w, 'done', 'end', {'endStatus': 1})
wf(w, 'wcamel', 'Order item created or renamed', 'collection', {'mode': 3, 'collection': 'orderItems', 'changed': ['productName']},
   [e13], enabled=False)

with open('workflows-list.json', 'w') as f:
    json.dump({'data': W, 'meta': {'count': len(W), 'page': 1, 'pageSize': len(W), 'totalPage': 1}}, f, indent=1)
    f.write('\n')

def lit(v):
    if v is None:
        return 'NULL'
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, (dict, list)):
        v = json.dumps(v)
    return "'" + str(v).replace("'", "''") + "'"

sql = ["-- NocoBase's workflow tables as NocoBase 2.x creates them on PostgreSQL (camelCase columns, snowflake ids), with the",
       "-- rows of workflows-list.json. Generated by gen.py; see README.md for the NocoBase sources.",
       'CREATE TABLE workflows (id bigint PRIMARY KEY, "createdAt" timestamptz NOT NULL DEFAULT now(), "updatedAt" timestamptz NOT NULL DEFAULT now(),',
       '  key varchar(255), title varchar(255), enabled boolean DEFAULT false, description text, type varchar(255), "triggerTitle" varchar(255),',
       "  config jsonb NOT NULL DEFAULT '{}', invalid boolean DEFAULT false, executed integer DEFAULT 0, \"allExecuted\" integer DEFAULT 0,",
       "  current boolean, sync boolean DEFAULT false, options jsonb DEFAULT '{}', \"createdById\" bigint, \"updatedById\" bigint);",
       'CREATE TABLE flow_nodes (id bigint PRIMARY KEY, "createdAt" timestamptz NOT NULL DEFAULT now(), "updatedAt" timestamptz NOT NULL DEFAULT now(),',
       '  key varchar(255), title varchar(255), "workflowId" bigint REFERENCES workflows (id) ON DELETE CASCADE, "upstreamId" bigint,',
       '  "branchIndex" integer, "downstreamId" bigint, type varchar(255), config json DEFAULT \'{}\');']
for w in W:
    sql.append('INSERT INTO workflows (id, key, title, enabled, type, config, current, sync, options) VALUES (%s);' % ', '.join(
        lit(w[k]) for k in ['id', 'key', 'title', 'enabled', 'type', 'config', 'current', 'sync', 'options']))
for w in W:
    for n in w['nodes']:
        sql.append('INSERT INTO flow_nodes (id, key, title, "workflowId", "upstreamId", "branchIndex", "downstreamId", type, config) VALUES (%s);' % ', '.join(
            lit(n[k]) for k in ['id', 'key', 'title', 'workflowId', 'upstreamId', 'branchIndex', 'downstreamId', 'type', 'config']))
with open('nocobase-workflows.sql', 'w') as f:
    f.write('\n'.join(sql) + '\n')
