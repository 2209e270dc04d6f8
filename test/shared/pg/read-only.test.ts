import { describe, expect, it } from 'vitest'
import { neverSent, pgFailure } from '../../../shared/pg/failure.js'
import { isReadOnly, isRepeatableWhenReadOnly } from '../../../shared/postgres/statement.js'

describe('isRepeatableWhenReadOnly, the retry rule of readOnly: true', () => {
  it.each([
    'select 1',
    'insert into t values (1)',
    'select * from t for update',
    "select nextval('s')",
    "select 'notify' as word -- notify",
    'select pg_advisory_lock(1)',
  ])('may run again, as the session refuses every write: %s', (text) => {
    expect(isRepeatableWhenReadOnly(text)).toBe(true)
  })

  it.each([
    'notify jobs',
    "select pg_notify('c', 'x')",
    "select dblink_exec('remote', 'delete from t')",
    'set transaction read write; insert into t values (1)',
    'set default_transaction_read_only = off',
    "select set_config('default_transaction_read_only', 'off', false)",
  ])('runs once, as its effect escapes a read-only session: %s', (text) => {
    expect(isRepeatableWhenReadOnly(text)).toBe(false)
  })
})

describe('isReadOnly, the retry rule of both driver entries', () => {
  it.each([
    'select 1',
    '  SELECT * FROM t WHERE id = $1',
    '-- the user\n/* and more */ select name from users',
    'with recent as (select * from t) select count(*) from recent',
    'values (1), (2)',
    'table users',
    'show search_path',
    'select 1;',
    "select 'a; delete from t' as s",
    'explain select 1',
  ])('may run again: %s', (text) => {
    expect(isReadOnly(text)).toBe(true)
  })

  it.each([
    'insert into t values (1)',
    'update t set v = 1',
    'delete from t',
    'with gone as (delete from t returning *) select * from gone',
    'select * into copy_of_t from t',
    "select nextval('s')",
    "select pg_notify('c', 'x')",
    'select * from t for update',
    'select 1; delete from t',
    'explain analyze delete from t',
    'create table t (v int)',
    'call do_things()',
    'select pg_advisory_lock(1)',
    "select set_config('x', 'y', false)",
    '',
  ])('must not run again: %s', (text) => {
    expect(isReadOnly(text)).toBe(false)
  })
})

describe('pgFailure', () => {
  it('reads pg’s code-less errors for a dead connection, and which of them never left', () => {
    const notQueryable = new Error('Client has encountered a connection error and is not queryable')
    const terminated = new Error('Connection terminated unexpectedly')
    expect(pgFailure(notQueryable)).toBe('connection')
    expect(pgFailure(terminated)).toBe('connection')
    expect(neverSent(notQueryable)).toBe(true)
    expect(neverSent(terminated)).toBe(false)
    expect(pgFailure(Object.assign(new Error('x'), { code: '57P01' }))).toBe('connection')
    expect(pgFailure(Object.assign(new Error('x'), { code: '28P01' }))).toBe('auth')
    expect(pgFailure(new Error('syntax'))).toBe('other')
  })
})
