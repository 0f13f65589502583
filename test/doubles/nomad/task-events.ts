/** Task events as Nomad's client records them (structs.TaskEvent, with DisplayMessage filled in). */
import { formatGoDuration } from './goformat.ts';
import { nowNs, nowRfc3339, ZERO_TIME } from './state.ts';
import type { TaskEvent, TaskState } from './types.ts';

function base(type: string, display: string, extra: Partial<TaskEvent> = {}, details: Record<string, string> = {}): TaskEvent {
  return {
    Type: type,
    Time: nowNs(),
    Message: '',
    DisplayMessage: display,
    Details: details,
    FailsTask: false,
    RestartReason: '',
    SetupError: '',
    DriverError: '',
    ExitCode: 0,
    Signal: 0,
    KillTimeout: 0,
    KillError: '',
    KillReason: '',
    StartDelay: 0,
    DownloadError: '',
    ValidationError: '',
    DiskLimit: 0,
    FailedSibling: '',
    VaultError: '',
    TaskSignalReason: '',
    TaskSignal: '',
    DriverMessage: '',
    GenericSource: '',
    ...extra,
  };
}

export const ev = {
  received: () => base('Received', 'Task received by client'),
  setup: () => base('Task Setup', 'Building Task Directory', { Message: 'Building Task Directory' }, { message: 'Building Task Directory' }),
  downloading: () => base('Driver', 'Downloading image', { DriverMessage: 'Downloading image' }, { driver_message: 'Downloading image' }),
  started: () => base('Started', 'Task started by client'),
  driverFailure: (error: string) => base('Driver Failure', error, { DriverError: error }, { driver_error: error }),
  failedValidation: (error: string) => base('Failed Validation', error, { ValidationError: error }, { validation_error: error }),
  terminated: (exitCode: number, message: string) =>
    base(
      'Terminated',
      message ? `Exit Code: ${exitCode}, Exit Message: ${JSON.stringify(message)}` : `Exit Code: ${exitCode}`,
      { ExitCode: exitCode, Message: message },
      { exit_code: String(exitCode), signal: '0', ...(message ? { exit_message: message } : {}) },
    ),
  restarting: (delayNs: number, reason = 'Restart within policy') =>
    base(
      'Restarting',
      reason === 'Restart within policy' ? `Task restarting in ${formatGoDuration(delayNs)}` : `${reason} - Task restarting in ${formatGoDuration(delayNs)}`,
      { StartDelay: delayNs, RestartReason: reason },
      { start_delay: String(delayNs), restart_reason: reason },
    ),
  notRestarting: (reason: string) => base('Not Restarting', reason, { RestartReason: reason, FailsTask: true }, { restart_reason: reason, fails_task: 'true' }),
  killing: (killTimeoutNs: number) =>
    base(
      'Killing',
      `Sent interrupt. Waiting ${formatGoDuration(killTimeoutNs)} before force killing`,
      { KillTimeout: killTimeoutNs },
      { kill_timeout: formatGoDuration(killTimeoutNs) },
    ),
  killed: () => base('Killed', 'Task successfully killed'),
  siblingFailed: (sibling: string) =>
    base('Sibling Task Failed', `Task's sibling ${JSON.stringify(sibling)} failed`, { FailedSibling: sibling }, { failed_sibling: sibling }),
};

export function pendingTaskState(): TaskState {
  return {
    State: 'pending',
    Failed: false,
    Restarts: 0,
    LastRestart: ZERO_TIME,
    StartedAt: ZERO_TIME,
    FinishedAt: ZERO_TIME,
    Events: [ev.received(), ev.setup()],
  };
}

export const now = nowRfc3339;
