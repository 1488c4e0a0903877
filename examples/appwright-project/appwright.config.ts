// A user's AppWright config, as it would sit in their test repository. qgjob runs these specs
// without editing this file: it wraps it, and points each project's device at the session the
// agent holds. `buildPath` is the "app build"; here an XML app model for Appium's fake driver.
import { defineConfig, Platform } from "appwright";

export default defineConfig({
  testDir: "./tests",
  projects: [
    {
      name: "android",
      use: {
        platform: Platform.ANDROID,
        device: { provider: "emulator" },
        buildPath: "app/fake-app.xml",
        expectTimeout: 3000,
      },
    },
    {
      name: "ios",
      use: {
        platform: Platform.IOS,
        device: { provider: "emulator" },
        buildPath: "app/fake-app.xml",
        expectTimeout: 3000,
      },
    },
  ],
});
