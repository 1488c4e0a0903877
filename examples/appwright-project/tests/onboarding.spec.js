// Onboarding happy path: type a user name, tap "Log in", and check the screen still shows it.
// Only `getByXpath` is used: the fake driver behind the example app knows xpath and id lookups,
// not the UiAutomator / iOS predicate strategies that getByText and getById send.
import { test, expect } from "appwright";

test("user can log in", async ({ device }) => {
  console.log("step 1: typing user name");
  const username = device.getByXpath('//MockInputField[@id="username"]');
  await username.fill("alice");

  console.log("step 2: tapping log in");
  await device.getByXpath('//MockButton[@id="login"]').tap();

  console.log("step 3: checking the welcome text");
  await expect(device.getByXpath('//MockTextView[@id="welcome"]')).toBeVisible();
  console.log("done: logged in as alice");
});
