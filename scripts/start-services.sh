#!/usr/bin/env bash
# Start the local PostgreSQL, Redis and RabbitMQ used by the platform and its integration tests,
# if they are not running. Idempotent: a running service is left alone.
# Ports: PostgreSQL 127.0.0.1:5432, Redis :6379, RabbitMQ (AMQP) :5672.
set -u

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
rabbit_up() { rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1; }

if ! pg_up; then
  echo "starting PostgreSQL..."
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if pg_up; then echo "PostgreSQL: up"; else echo "PostgreSQL: DOWN (integration tests will fail)" >&2; fi

if ! redis_up; then
  echo "starting Redis..."
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi
if redis_up; then echo "Redis: up"; else echo "Redis: DOWN (integration tests will fail)" >&2; fi

if ! rabbit_up; then
  echo "starting RabbitMQ..."
  if command -v rabbitmq-server >/dev/null 2>&1; then
    # a node whose app was stopped (rabbitmqctl stop_app) only needs start_app
    timeout 20 rabbitmqctl -q start_app >/dev/null 2>&1 || rabbitmq-server -detached >/dev/null 2>&1 || true
  fi
  for _ in $(seq 1 60); do rabbit_up && break; sleep 1; done
fi
if rabbit_up; then echo "RabbitMQ: up"; else echo "RabbitMQ: DOWN (streaming tests will fail)" >&2; fi
