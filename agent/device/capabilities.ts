/**
 * The capabilities of a slot's device session, per platform (Appium's documented names). The agent,
 * not the driver, decides installs: `noReset` keeps the app between sessions of the same build, and
 * a new build is installed by starting a new session with `appium:app` set to it.
 */
import type { SlotConfig } from '../options.js';

export function capabilitiesFor(slot: SlotConfig, appPath: string): Record<string, unknown> {
  const base: Record<string, unknown> =
    slot.platform === 'ios'
      ? { platformName: 'iOS', 'appium:automationName': 'XCUITest', 'appium:deviceName': slot.deviceName }
      : { platformName: 'Android', 'appium:automationName': 'UiAutomator2', 'appium:deviceName': slot.deviceName };
  return {
    ...base,
    'appium:noReset': true,
    'appium:fullReset': false,
    ...slot.capabilities,
    'appium:app': appPath,
    // The agent keeps its session between jobs and checks it before each run. An hour of quiet ends an
    // orphaned session (an agent killed with SIGKILL) without ending a working one.
    'appium:newCommandTimeout': 3600,
  };
}
